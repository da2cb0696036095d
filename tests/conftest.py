"""Shared fixtures: tiny, asymmetric CT volumes written in every layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from liverlib.dicom_write import write_dicom_series
from liverlib.volume import Volume

ROOT = Path(__file__).resolve().parents[1]


def pydicom_test_file(name: str) -> Path:
    """A file shipped inside pydicom's wheel (real-world data nobody here wrote)."""
    import pydicom.data

    return Path(pydicom.data.__path__[0]) / "test_files" / name


def asymmetric_volume(shape=(12, 20, 24), spacing=(2.5, 1.5, 1.25)) -> Volume:
    """A volume whose every axis and direction is distinguishable.

    HU rise along each axis at a different rate, and the patient's right,
    anterior, superior octant (small x, small y, large z) holds a 300 HU
    marker; a "liver" block sits right-anterior and a "tumor" inside it.
    """
    nz, ny, nx = shape
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    hu = (-1000 + 7 * x + 13 * y + 29 * z).astype(np.int16)
    hu[nz - 3 :, :3, :3] = 300
    label = np.zeros(shape, np.uint8)
    label[2:8, 4:12, 3:10] = 1
    label[4:6, 6:9, 5:8] = 2
    return Volume(hu=hu, spacing=spacing, case_id="fixture", label=label, origin=(-15.0, -20.0, 100.0))


@pytest.fixture
def volume() -> Volume:
    return asymmetric_volume()


def write_ircadb_case(case: Path, vol: Volume, *, nested: bool = False, flip=(False, False, False)) -> Path:
    """Write ``vol`` as a 3D-IRCADb case folder (image + liver/tumor mask series)."""
    rng = np.random.default_rng(0)
    order = rng.permutation(vol.shape[0])
    patient = case / "PATIENT_DICOM" / ("PATIENT_DICOM" if nested else "")
    common = dict(origin=vol.origin, flip=flip, uid_seed=str(case.name), name_order=order)
    write_dicom_series(vol.hu, vol.spacing, patient, **common)
    liver = ((vol.label >= 1) * 255).astype(np.int16)
    tumor = ((vol.label == 2) * 255).astype(np.int16)
    write_dicom_series(liver, vol.spacing, case / "MASKS_DICOM" / "liver", rescale_intercept=0, series_number=2, **common)
    write_dicom_series(tumor, vol.spacing, case / "MASKS_DICOM" / "livertumor01", rescale_intercept=0, series_number=3, **common)
    return case


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One batch run under the smoke profile, in a temporary folder, per session."""
    from liverlib.runner import run_batch

    base = tmp_path_factory.mktemp("smoke")
    # A project of its own (pyproject.toml marks its root), its notebooks run
    # where JupyterLab runs them (kernel in notebooks/), with the relative
    # data_root "data" a user has: each notebook must resolve it to <base>/data.
    shutil.copytree(ROOT / "notebooks", base / "notebooks")
    (base / "pyproject.toml").write_text("# the smoke run's project root\n")
    result = run_batch(
        "smoke",
        overrides={"data_root": "data"},
        notebook_dir=base / "notebooks",
        config_dir=ROOT / "configs",
        runs_dir=base / "runs",
    )
    return base, result
