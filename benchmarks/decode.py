"""Decoding speed: read_study against a bare pydicom loop over the same files.

Writes a 300-slice 512x512 int16 series (and a small cohort), then prints
slices/s for ``read_study`` and for ``[pydicom.dcmread(f).pixel_array ...]``
measured in the same run, their ratio (target >= 0.8 with one worker), the
cohort rate with 1 and N workers against the bare loop, and peak memory.

    python benchmarks/decode.py [--slices 300] [--matrix 512] [--cohort 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pydicom

from liverlib import read_study
from liverlib.decode import decode_cohort
from liverlib.dicom_write import write_dicom_series


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bare_loop(files: list[Path]) -> list[np.ndarray]:
    return [pydicom.dcmread(f).pixel_array for f in files]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--matrix", type=int, default=512)
    parser.add_argument("--cohort", type=int, default=6, help="studies in the cohort test")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hu = rng.integers(-1000, 1500, size=(args.slices, args.matrix, args.matrix), dtype=np.int16)
        order = rng.permutation(args.slices)
        start = time.perf_counter()
        files = write_dicom_series(hu, (1.0, 0.7, 0.7), tmp / "series", name_order=order)
        print(f"wrote {args.slices} slices {args.matrix}x{args.matrix} in {time.perf_counter() - start:.1f} s")
        files = sorted(files)

        bare_loop(files[:20])  # warm the page cache and imports
        t_bare = best_of(args.repeats, lambda: bare_loop(files))
        t_read = best_of(args.repeats, lambda: read_study(tmp / "series"))
        n = args.slices
        print(f"bare dcmread().pixel_array : {n / t_bare:8.1f} slices/s ({t_bare:.2f} s)")
        print(f"read_study (1 process)     : {n / t_read:8.1f} slices/s ({t_read:.2f} s)")
        print(f"ratio read_study / bare    : {t_bare / t_read:8.2f}   (target >= 0.8)")

        tracemalloc.start()
        volume = read_study(tmp / "series")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"peak traced memory         : {peak / 2**20:8.1f} MiB for a {volume.hu.nbytes / 2**20:.1f} MiB volume")

        # Cohort: the same series split into studies, decoded with 1 and N workers.
        per = max(1, args.slices // args.cohort)
        for c in range(args.cohort):
            write_dicom_series(hu[c * per : (c + 1) * per], (1.0, 0.7, 0.7), tmp / "cohort" / f"s{c}", uid_seed=f"s{c}")
        cohort_files = sorted((tmp / "cohort").rglob("image_*"))
        studies = sorted(p for p in (tmp / "cohort").iterdir())
        t_bare_c = best_of(args.repeats, lambda: bare_loop(cohort_files))
        n_c = len(cohort_files)
        print(f"cohort of {len(studies)} studies, {n_c} slices:")
        print(f"  bare loop (1 process)         : {n_c / t_bare_c:8.1f} slices/s")
        with ProcessPoolExecutor(args.workers) as pool:
            list(pool.map(read_shape, studies[:2]))  # start the workers
            t_par = best_of(args.repeats, lambda: list(pool.map(read_shape, studies)))
        print(f"  read_study, {args.workers} workers          : {n_c / t_par:8.1f} slices/s, ratio to bare {t_bare_c / t_par:.2f} (target > 1)")
        for workers in sorted({1, args.workers}):
            t = best_of(1, lambda w=workers: decode_cohort(tmp / "cohort", f"w{w}", interim_root=tmp / "interim",
                                                           workers=w, force=True, progress=False))
            print(f"  decode step, {workers} worker(s), cache written: {n_c / t:8.1f} slices/s, ratio to bare {t_bare_c / t:.2f}")


def read_shape(path: Path) -> tuple:
    """Decode in a worker and return only the shape (as decode does, writing instead)."""
    return read_study(path).shape

if __name__ == "__main__":
    main()
