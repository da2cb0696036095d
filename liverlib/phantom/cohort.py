"""Write phantoms as real DICOM studies in the 3D-IRCADb layout.

``<out>/phantom-000/PATIENT_DICOM/image_N`` (CT, int16 stored values,
RescaleIntercept -1024), ``MASKS_DICOM/liver/``, ``MASKS_DICOM/livertumor01..``
(one per metastasis or HCC) and ``MASKS_DICOM/liverkyst/`` (the simple cysts,
which stay liver: 3D-IRCADb's name) as 0/255 masks with RescaleIntercept 0,
as 3D-IRCADb ships them, one Study and
Frame of Reference UID per study, file names in a random order, and the
phantom's fake identity in every header. CLI:
``python -m liverlib phantoms OUT --n N --seed S [--matrix 256|512] [--workers W]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from liverlib.dicom_write import write_dicom_series
from liverlib.phantom.generator import Phantom, generate_phantom
from liverlib.phantom.tumors import MALIGNANT


def case_seed(seed: int, index: int) -> int:
    """The phantom seed of study ``index`` of a cohort (independent of workers)."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index)]).generate_state(1)[0])


def write_phantom(phantom: Phantom, case_dir: str | Path) -> Path:
    """Write one phantom in the 3D-IRCADb layout; returns ``case_dir``."""
    from pydicom.uid import generate_uid

    case_dir = Path(case_dir)
    seed = phantom.meta.get("seed", 0)
    uid_seed = f"liverlib-phantom-{seed}"
    study_uid = generate_uid(entropy_srcs=[uid_seed, "study"])
    frame_uid = generate_uid(entropy_srcs=[uid_seed, "frame"])
    nz = phantom.hu.shape[0]
    order = np.random.default_rng([int(seed) & 0xFFFFFFFF, 7]).permutation(nz)
    common = dict(
        origin=phantom.origin, identity=phantom.identity, study_uid=study_uid, frame_uid=frame_uid,
        name_order=order,
    )
    extra = {
        "Manufacturer": "liverlib phantom",
        "BodyPartExamined": "ABDOMEN",
        "KVP": 120,
        "ConvolutionKernel": "STANDARD",
        "ContrastBolusAgent": "" if phantom.phase == "unenhanced" else "IODINATED",
    }
    write_dicom_series(phantom.hu, phantom.spacing, case_dir / "PATIENT_DICOM", uid_seed=uid_seed,
                       series_number=2, extra=extra, **common)
    masks = [("liver", phantom.label > 0)]
    tumors = phantom.lesion_masks(MALIGNANT)
    masks += [(f"livertumor{k:02d}", mask) for k, mask in enumerate(tumors, start=1)]
    if phantom.cyst_mask is not None:  # one folder for all of a patient's cysts, as 3D-IRCADb's liverkyst
        masks.append(("liverkyst", phantom.cyst_mask))
    for n, (name, mask) in enumerate(masks):
        ident = dict(phantom.identity, SeriesDescription=f"MASK {name}")
        write_dicom_series(
            mask.astype(np.int16) * 255, phantom.spacing, case_dir / "MASKS_DICOM" / name,
            uid_seed=uid_seed, series_number=100 + n, rescale_intercept=0.0,
            **dict(common, identity=ident),
        )
    return case_dir


def _one(args: tuple) -> tuple[Path, float]:
    out_dir, index, seed, matrix = args
    t0 = time.perf_counter()
    phantom = generate_phantom(case_seed(seed, index), matrix=matrix)
    phantom.case_id = f"phantom-{index:03d}"
    case = write_phantom(phantom, Path(out_dir) / phantom.case_id)
    summary = {"case_id": phantom.case_id, "phase": phantom.phase, "spacing": phantom.spacing,
               "shape": list(phantom.hu.shape), "tumors": phantom.tumors, **phantom.meta}
    (case / "phantom.json").write_text(json.dumps(summary, indent=1))
    return case, time.perf_counter() - t0


def write_phantom_cohort(out_dir: str | Path, n: int, seed: int = 0, *, matrix: int = 256,
                         workers: int = 1) -> list[Path]:
    """Generate and write ``n`` phantom studies.

    Args:
        out_dir: Cohort folder (created); case folders ``phantom-000``...
        n: Number of studies, e.g. 24 for the demo profile.
        seed: Cohort seed; study ``i`` uses ``case_seed(seed, i)``, so the
            result does not depend on ``workers``.
        matrix: 256 (default) or 512.
        workers: Processes to use (1 = in this process).

    Returns:
        The case folders, in index order.
    """
    jobs = [(str(out_dir), i, seed, matrix) for i in range(n)]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    if workers <= 1 or n <= 1:
        return [_one(j)[0] for j in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [case for case, _ in pool.map(_one, jobs)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``python -m liverlib phantoms``."""
    parser.add_argument("out", type=Path, help="output folder (3D-IRCADb layout, one folder per case)")
    parser.add_argument("--n", type=int, default=24, help="number of studies (default 24)")
    parser.add_argument("--seed", type=int, default=0, help="cohort seed (same seed, same pixels)")
    parser.add_argument("--matrix", type=int, choices=(256, 512), default=256,
                        help="256: ~1.5 mm pixels, fast (default); 512: clinical 0.6-0.95 mm")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")


def run(args: argparse.Namespace) -> int:
    """Write the cohort and print one line per study."""
    t0 = time.perf_counter()
    cases = write_phantom_cohort(args.out, args.n, args.seed, matrix=args.matrix, workers=args.workers)
    for case in cases:
        info = json.loads((case / "phantom.json").read_text())
        print(f"{case}: {info['phase']}, liver {info['liver_ml']:.0f} mL, {info['n_lesions']} tumors, "
              f"{info['n_cysts']} cysts")
    print(f"{len(cases)} studies in {time.perf_counter() - t0:.1f} s")
    return 0
