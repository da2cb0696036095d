"""``python -m liverlib run``: the numbered notebooks as a papermill batch.

Runs ``notebooks/01_decode`` to ``04_evaluate`` in order with one profile's
parameters (``configs/<profile>.yaml``, overridable with ``-p key value``),
writes the executed notebooks and one self-contained HTML report each into
``outputs/runs/<run_id>/`` (never back into ``notebooks/``), then
``index.html``. A failing notebook stops the batch with a message naming the
notebook, the cell and the error. A rerun skips the steps whose inputs
(notebook, parameters, upstream steps, liverlib's code, and for the decoding
step the dataset it built and the studies it reads) are unchanged, unless
``--force``. Kernels start in the notebooks' folder, as JupyterLab starts
them; relative paths mean the project root there as here.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from liverlib.atomic import write_json
from liverlib.errors import UsageError
from liverlib.paths import project_path, project_relative, project_root
from liverlib.step_state import (
    STATE_FILE,
    data_state,
    effective_parameters,
    read_state,
    step_fingerprint,
)

log = logging.getLogger("liverlib.runner")

NOTEBOOK_DIR = Path("notebooks")
CONFIG_DIR = Path("configs")
RUNS_DIR = Path("outputs/runs")


class RunError(RuntimeError):
    """A notebook of the batch failed (the message names notebook, cell, error)."""


@dataclass
class StepResult:
    name: str
    status: str  # ran, skipped or failed
    seconds: float = 0.0
    html: str = ""
    error: str = ""
    declared: tuple = ()  # the parameters the notebook declares
    parameters: dict | None = None  # the values its outputs were made with (None: unknown or never ran)


@dataclass
class RunResult:
    run_dir: Path
    profile: str
    parameters: dict
    steps: list[StepResult] = field(default_factory=list)


def load_profile(name: str, config_dir: Path = CONFIG_DIR) -> dict:
    """Read ``configs/<name>.yaml``: ``{"description": ..., "parameters": {...}}``."""
    import yaml

    path = Path(config_dir) / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in Path(config_dir).glob("*.yaml"))
        raise UsageError(f"{path}: no such profile (known: {', '.join(known)})")
    data = yaml.safe_load(path.read_text()) or {}
    data.setdefault("parameters", {})
    return data


def parse_overrides(pairs: list[list[str]] | None) -> dict:
    """``[["epochs", "3"], ["source", "data/raw/x"]]`` -> typed values (YAML rules)."""
    import yaml

    out = {}
    for key, value in pairs or []:
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key] = value
    return out


def notebook_steps(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    steps = sorted(p for p in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb"))
    if not steps:
        raise FileNotFoundError(f"{notebook_dir}: no numbered notebooks")
    return steps


def declared_parameters(notebook: Path) -> dict:
    import papermill

    return papermill.inspect_notebook(str(notebook))


def _record_relative_paths(executed: Path, source: Path, final: Path, root: Path) -> None:
    """Papermill records where the notebooks were; keep that relative to the project root."""
    notebook = json.loads(executed.read_text())
    record = notebook.get("metadata", {}).get("papermill", {})
    record.update(input_path=project_relative(source, root), output_path=project_relative(final, root))
    executed.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def _is_step(step: Path, key: str) -> bool:
    """Whether ``key`` names the step: ``03_train``, ``03``, ``3`` or ``train``."""
    number, _, word = step.stem.partition("_")
    return key in (step.stem, word) or number.lstrip("0") == str(key).lstrip("0")


def _select_from(steps: list[Path], start: str | None) -> int:
    if not start:
        return 0
    for i, step in enumerate(steps):
        if _is_step(step, start):
            return i
    raise UsageError(f"--from {start}: no such step (steps: {', '.join(s.stem for s in steps)})")


def _select_only(steps: list[Path], only: list[str] | None) -> set[str]:
    if not only:
        return {s.stem for s in steps}
    chosen = set()
    for key in only:
        matches = [s.stem for s in steps if _is_step(s, key)]
        if not matches:
            raise UsageError(f"--only {key}: no such step (steps: {', '.join(s.stem for s in steps)})")
        chosen.update(matches)
    return chosen


#: The notebooks' kernels write their process's own stderr here, in the run folder.
KERNEL_LOG = "kernel.log"


def _failure_message(notebook: Path, exc: Exception, kernel_log: str = "") -> str:
    cell = getattr(exc, "exec_count", None) or getattr(exc, "cell_index", None)
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    where = f"cell {cell}" if cell is not None else "a cell"
    message = f"{notebook.name}: {where} failed: {ename}: {evalue}"
    # Not an error a cell raised (those carry ``ename``) but the kernel's: it died in a cell
    # (DeadKernelError, e.g. killed for memory) or before it started (RuntimeError "Kernel died
    # before replying to kernel_info", e.g. a broken environment). Its last words are in the log.
    if not hasattr(exc, "ename") and kernel_log:
        message += f" (the kernel's own output: {kernel_log})"
    return message


def kernel_manager_class(log_path: Path, step: str):
    """A Jupyter kernel manager whose kernels write their process's stdout and stderr to ``log_path``.

    A kernel's process inherits the terminal: TensorFlow's C++ start-up lines ("E0000 ...
    cuda_platform.cc:52] failed call to cuInit: ...", on every machine without a GPU) and the
    kernel's "[IPKernelApp] WARNING | Kernel is running over TCP without encryption" reached the
    terminal of ``make demo`` beside the batch log, where its filter does not reach. Cell outputs
    still come back to the notebook (ipykernel forwards them); only the process's own copy goes to
    the file, appended after a line naming the step, so a kernel that dies leaves its last lines
    there. ``start_kernel`` takes Popen's keyword arguments (jupyter_client's documented use).

    Args:
        log_path: e.g. ``outputs/runs/demo/kernel.log``.
        step: The notebook's name, e.g. ``03_train``.

    Returns:
        A subclass of ``jupyter_client.AsyncKernelManager`` for papermill's
        ``kernel_manager_class``.
    """
    from jupyter_client.manager import AsyncKernelManager

    class RunKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
                log.write(f"--- {step}: kernel started at {time.strftime('%H:%M:%S')}\n".encode())
                log.flush()
                kw.setdefault("stdout", log)
                kw.setdefault("stderr", log)
                return await super().start_kernel(**kw)

    return RunKernelManager


def run_batch(
    profile: str,
    *,
    run_id: str | None = None,
    overrides: dict | None = None,
    start: str | None = None,
    only: list[str] | None = None,
    force: bool = False,
    keep_code: bool = False,
    notebook_dir: Path = NOTEBOOK_DIR,
    config_dir: Path = CONFIG_DIR,
    runs_dir: Path = RUNS_DIR,
    kernel_name: str = "python3",
) -> RunResult:
    """Execute the numbered notebooks with one profile and export the reports.

    Args:
        profile: Name of a file in ``configs/`` (smoke, demo, full).
        run_id: Run folder name under ``outputs/runs`` (default: the profile).
        overrides: Parameter values replacing the profile's.
        start: First step to run (``03_train``, ``03`` or ``train``); earlier
            steps are kept as they are.
        only: Steps to run, the others kept as they are (e.g. ``["01", "04"]``:
            decode a second cohort and evaluate another run's model on it,
            without training; see 04's ``model_dir``).
        force: Run steps even when up to date.
        keep_code: Keep code cells in the HTML reports.
        notebook_dir, config_dir, runs_dir: Where things are.
        kernel_name: Jupyter kernel for papermill.

    Returns:
        What ran, with timings. Raises RunError at the first failing notebook.
    """
    import papermill

    from liverlib.report import export_html, write_index

    # The notebooks' kernels start in their folder (as JupyterLab starts them)
    # and read relative paths against the project holding them; so does the run.
    notebook_dir, config_dir = project_path(notebook_dir), project_path(config_dir)
    root = project_root(notebook_dir)
    config = load_profile(profile, config_dir)
    params = {**config["parameters"], **(overrides or {})}
    run_dir = project_path(runs_dir, root) / (run_id or profile)
    run_dir.mkdir(parents=True, exist_ok=True)
    params["run_dir"] = project_relative(run_dir, root)  # "outputs/runs/demo": no local path in the reports
    steps = notebook_steps(notebook_dir)
    declared = {s.stem: declared_parameters(s) for s in steps}
    known = set().union(*[set(d) for d in declared.values()])
    unknown = sorted(set(overrides or {}) - known)
    if unknown:
        raise UsageError(f"unknown parameter(s) {', '.join(unknown)}; the notebooks declare: {', '.join(sorted(known))}")
    restore_log = _file_log(run_dir / "run.log")
    state = read_state(run_dir)
    result = RunResult(run_dir=run_dir, profile=profile, parameters=params)
    first = _select_from(steps, start)
    chosen = _select_only(steps, only)
    upstream = ""
    try:
        log.info("run %s: profile %s, %d notebooks -> %s", run_dir.name, profile, len(steps), params["run_dir"])
        for i, notebook in enumerate(steps):
            name = notebook.stem
            step_params = {k: v for k, v in params.items() if k in declared[name]}
            fp = step_fingerprint(notebook, step_params, upstream)
            values = effective_parameters(declared[name], step_params)
            data = data_state(values, root)
            upstream = fp + (data or "")  # the steps after a decoding step also depend on the data it left
            executed = run_dir / notebook.name
            html = run_dir / f"{name}.html"
            previous = state.get(name, {})
            up_to_date = (previous.get("fingerprint") == fp and previous.get("status") == "ran" and executed.exists()
                          and html.exists() and previous.get("data") == data)
            if i < first or name not in chosen or (up_to_date and not force):
                reason = "before --from" if i < first else "not in --only" if name not in chosen else "up to date"
                log.info("step %s: skipped (%s)", name, reason)
                result.steps.append(StepResult(name, "skipped", previous.get("seconds", 0.0), html.name if html.exists() else "",
                                               declared=tuple(declared[name]), parameters=previous.get("parameters")))
                continue
            log.info("step %s: running with %s", name, json.dumps(step_params, default=str))
            tmp = run_dir / f".{name}.running.ipynb"
            started = time.perf_counter()
            try:
                papermill.execute_notebook(
                    str(notebook), str(tmp), parameters=step_params, kernel_name=kernel_name,
                    cwd=str(notebook.parent), log_output=True, progress_bar=False, stdout_file=None,
                    kernel_manager_class=kernel_manager_class(run_dir / KERNEL_LOG, name),
                )
            except Exception as exc:
                seconds = time.perf_counter() - started
                message = _failure_message(notebook, exc, project_relative(run_dir / KERNEL_LOG, root))
                failed = run_dir / f"{name}.failed.ipynb"
                if tmp.exists():
                    _record_relative_paths(tmp, notebook, failed, root)
                    os.replace(tmp, failed)
                    export_html(failed, run_dir / f"{name}.failed.html", keep_code=True)
                state[name] = {"status": "failed", "seconds": seconds, "error": message, "parameters": step_params}
                write_json(run_dir / STATE_FILE, state, sort_keys=True, default=str)
                result.steps.append(StepResult(name, "failed", seconds, f"{name}.failed.html", message,
                                               declared=tuple(declared[name]), parameters=step_params))
                log.error("step %s: FAILED after %.1f s: %s", name, seconds, message)
                raise RunError(message) from None
            seconds = time.perf_counter() - started
            _record_relative_paths(tmp, notebook, executed, root)
            os.replace(tmp, executed)
            (run_dir / f"{name}.failed.ipynb").unlink(missing_ok=True)
            (run_dir / f"{name}.failed.html").unlink(missing_ok=True)
            export_html(executed, html, keep_code=keep_code)
            data = data_state(values, root)
            upstream = fp + (data or "")
            state[name] = {"status": "ran", "seconds": round(seconds, 1), "fingerprint": fp, "parameters": step_params}
            if data is not None:
                state[name]["data"] = data
            write_json(run_dir / STATE_FILE, state, sort_keys=True, default=str)
            result.steps.append(StepResult(name, "ran", seconds, html.name, declared=tuple(declared[name]),
                                           parameters=step_params))
            log.info("step %s: done in %.1f s -> %s", name, seconds, project_relative(html, root))
    finally:
        listed = {s.name for s in result.steps}
        for notebook in steps:  # after a failure, the steps it kept from running: their earlier outputs, if any
            if notebook.stem not in listed:
                previous, html = state.get(notebook.stem, {}), run_dir / f"{notebook.stem}.html"
                result.steps.append(StepResult(notebook.stem, "skipped", previous.get("seconds", 0.0),
                                               html.name if html.exists() else "", declared=tuple(declared[notebook.stem]),
                                               parameters=previous.get("parameters")))
        write_index(run_dir, result, description=config.get("description", ""))
        restore_log()
    return result


class _BatchLogFilter(logging.Filter):
    """Keep the batch log readable: cell outputs and liverlib's own lines only.

    Drops papermill's per-cell bookkeeping, TensorFlow's absl start-up lines
    (``I0000 00:00:...``, which ignore TF_CPP_MIN_LOG_LEVEL), the text stand-in
    of an ipywidgets display (``VBox(children=(...``) and blank lines; strips
    the newline a cell's printed line ends with (else each one is followed by
    a blank line).
    """

    NOISE = re.compile(
        r"^(Executing Cell \d+|Ending Cell \d+|Executing notebook with kernel|Input Notebook|Output Notebook|Working directory|"
        r"[A-Z][A-Za-z]*\((children|description|value|layout)=)"
    )

    def __init__(self) -> None:
        super().__init__()
        # TensorFlow's absl lines: the reports drop them too.
        from liverlib.report import STDERR_NOISE

        self.stderr_noise = STDERR_NOISE

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        text = message.strip()
        if not text or self.NOISE.match(text) or self.stderr_noise.match(text):
            return False
        record.msg, record.args = message.rstrip(), None  # the indent of a printed table stays
        return True


def _file_log(path: Path):
    """Send INFO logs (liverlib's and papermill's cell outputs) to ``run.log``.

    Returns a function that undoes everything, so a notebook or test process
    that runs several batches is left as it was.
    """
    root = logging.getLogger()
    noise = _BatchLogFilter()
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    handler.setLevel(logging.INFO)
    handler.addFilter(noise)
    consoles = list(root.handlers)
    for other in consoles:  # the console gets the same clean lines
        other.addFilter(noise)
    root.addHandler(handler)
    level = root.level
    if level > logging.INFO or level == logging.NOTSET:
        root.setLevel(logging.INFO)

    def restore() -> None:
        root.removeHandler(handler)
        handler.close()
        for other in consoles:
            other.removeFilter(noise)
        root.setLevel(level)

    return restore


def add_arguments(parser) -> None:
    parser.add_argument("--profile", default="demo", help="configs/<profile>.yaml (smoke, demo, full)")
    parser.add_argument("--run-id", default=None, help="run folder under outputs/runs (default: the profile name)")
    parser.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                        help="override a parameter, e.g. -p source data/raw/my_cohort -p epochs 5")
    parser.add_argument("--from", dest="start", default=None, help="first step to run, e.g. 03_train")
    parser.add_argument("--only", nargs="+", default=None, metavar="STEP",
                        help="run only these steps, e.g. --only 01 04 (evaluate a trained run's model on another cohort)")
    parser.add_argument("--force", action="store_true", help="run steps even when up to date")
    parser.add_argument("--keep-code", action="store_true", help="keep code cells in the HTML reports")
    parser.add_argument("--runs-dir", default=str(RUNS_DIR))


def run(args) -> int:
    try:
        result = run_batch(
            args.profile, run_id=args.run_id, overrides=parse_overrides(args.param), start=args.start, only=args.only,
            force=args.force, keep_code=args.keep_code, runs_dir=Path(args.runs_dir),
        )
    except RunError as exc:
        print(f"run failed: {exc}")
        return 1
    for step in result.steps:
        seconds = f"{step.seconds:7.1f} s" if step.html or step.status != "skipped" else "never ran"
        print(f"{step.name:14} {step.status:8} {seconds:>9}  {step.html}")
    print(f"report: {result.run_dir / 'index.html'}")
    return 0
