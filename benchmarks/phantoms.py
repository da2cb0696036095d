"""Phantom cohort speed: seconds and MB per study, the DICOM writer against
pydicom's own ``save_as``, and (``--cohort``) the demo cohort end to end.

Prints, for each matrix, generate and write seconds per study and MB per
study; then the writer's speed on one study's CT series against a baseline in
the same run (a ``Dataset`` built tag by tag per slice, with the same tags,
and written with ``Dataset.save_as``: the straightforward way; the writer must produce the same
bytes, see tests/test_phantom_dicom.py); with ``--cohort``, the wall time of
the demo profile's cohort (``n_cases`` from configs/demo.yaml) on ``--workers``
processes. Target: the demo cohort well under a minute on 2 cores.

Run: ``.venv/bin/python benchmarks/phantoms.py [--n 3] [--cohort]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from liverlib.dicom_write import write_dicom_series
from liverlib.phantom.cohort import case_seed, write_phantom, write_phantom_cohort
from liverlib.phantom.generator import generate_phantom


def save_as_baseline(reference: Path, hu: np.ndarray, out_dir: Path) -> None:
    """Reference writer: per slice, a pydicom Dataset built tag by tag with the
    same tags as ``reference`` (a file the writer made), written by ``save_as``."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import generate_uid

    out_dir.mkdir(parents=True)
    template = pydicom.dcmread(reference)
    tags = [(e.keyword, e.value) for e in template if e.keyword and e.keyword != "PixelData"]
    stored = (hu.astype(np.int32) + 1024).astype(np.int16)
    for k in range(hu.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = template.file_meta.MediaStorageSOPClassUID
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = template.file_meta.TransferSyntaxUID
        ds = Dataset()
        ds.file_meta = meta
        for keyword, value in tags:
            setattr(ds, keyword, value)
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(k)]
        ds.PixelData = stored[k].tobytes()
        ds.save_as(out_dir / f"image_{k}", enforce_file_format=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3, help="studies per matrix")
    parser.add_argument("--matrix", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--cohort", action="store_true", help="also time the demo cohort end to end")
    parser.add_argument("--workers", type=int, default=2, help="processes for --cohort")
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

    p = generate_phantom(case_seed(0, 0), matrix=256)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        files = write_dicom_series(p.hu, p.spacing, Path(tmp) / "fast", identity=p.identity)
        fast = time.perf_counter() - t0
        t0 = time.perf_counter()
        save_as_baseline(files[0], p.hu, Path(tmp) / "baseline")
        base = time.perf_counter() - t0
    nz = p.hu.shape[0]
    print(f"CT series of {nz} slices: write_dicom_series {1e3 * fast / nz:.2f} ms/file, "
          f"Dataset.save_as baseline {1e3 * base / nz:.2f} ms/file, speed ratio {base / fast:.1f}x")

    if args.cohort:
        from liverlib.runner import load_profile

        config = Path(__file__).resolve().parents[1] / "configs"
        n_cases = int(load_profile("demo", config)["parameters"]["n_cases"])
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            write_phantom_cohort(tmp, n_cases, seed=0, workers=args.workers)
            wall = time.perf_counter() - t0
        print(f"demo cohort: {n_cases} studies on {args.workers} workers in {wall:.1f} s "
              f"({wall / 60:.2f} of the one-minute mark)")


if __name__ == "__main__":
    main()
