"""Seconds and MB per phantom study (generate + write DICOM), at 256 and 512.

Run: ``.venv/bin/python benchmarks/phantoms.py [--n 3]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from liverlib.phantom.cohort import case_seed, write_phantom
from liverlib.phantom.generator import generate_phantom


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3, help="studies per matrix")
    parser.add_argument("--matrix", type=int, nargs="+", default=[256, 512])
    args = parser.parse_args()
    for matrix in args.matrix:
        gen = write = mb = 0.0
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.n):
                t0 = time.perf_counter()
                p = generate_phantom(case_seed(0, i), matrix=matrix)
                t1 = time.perf_counter()
                case = write_phantom(p, Path(tmp) / f"phantom-{i:03d}")
                write += time.perf_counter() - t1
                gen += t1 - t0
                mb += sum(f.stat().st_size for f in case.rglob("*") if f.is_file()) / 1e6
        n = args.n
        print(f"matrix {matrix}: {gen / n:.2f} s generate + {write / n:.2f} s write "
              f"= {(gen + write) / n:.2f} s/study, {mb / n:.1f} MB/study")


if __name__ == "__main__":
    main()
