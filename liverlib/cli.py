"""``python -m liverlib <command>``: every step without Jupyter.

Each command lives in its own module, which provides ``add_arguments(parser)``
and ``run(args) -> int``; modules load only when their command runs, so
``liverlib decode --help`` does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from liverlib.errors import StudyError, UsageError

COMMANDS = {
    "decode": ("liverlib.decode", "decode every study under a folder into the interim cache"),
    "phantoms": ("liverlib.phantom.cohort", "write a synthetic abdominal CT cohort as DICOM"),
    "build-dataset": ("liverlib.build_dataset", "build the three-view slice dataset from the interim cache"),
    "import-images": ("liverlib.image_folder", "import a train/valid/test folder of 2D slice images and masks"),
    "train": ("liverlib.train", "train the multitask U-Net on a slice dataset"),
    "predict": ("liverlib.predict", "segment one study and write mask.nii.gz + summary.json"),
    "run": ("liverlib.runner", "run the numbered notebooks as a papermill batch with HTML reports"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="liverlib", description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(command)
            command.set_defaults(_module=module)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        return int(args._module.run(args) or 0)
    except (UsageError, StudyError) as exc:  # the user's input, said in one line; a bug keeps its traceback
        kind = f"{type(exc).__name__}: " if isinstance(exc, StudyError) else ""
        print(f"liverlib {args.command}: error: {kind}{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
