"""Phantom cohort on disk: 3D-IRCADb layout, exact round trip, fake identity, CLI."""

from __future__ import annotations

import argparse

import numpy as np
import pydicom
import pytest

from liverlib.phantom import generate_phantom, write_phantom_cohort
from liverlib.phantom.cohort import add_arguments, case_seed


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantoms")
    return out, write_phantom_cohort(out, 2, seed=4)


def test_layout_and_names_not_in_slice_order(cohort):
    _, cases = cohort
    assert [c.name for c in cases] == ["phantom-000", "phantom-001"]
    for case in cases:
        assert (case / "PATIENT_DICOM").is_dir() and (case / "MASKS_DICOM" / "liver").is_dir()
        files = list((case / "PATIENT_DICOM").iterdir())
        z = {int(f.name.split("_")[1]): float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2])
             for f in files}
        zs = [z[k] for k in sorted(z)]
        assert zs != sorted(zs)


def test_round_trip_through_read_study(cohort):
    study = pytest.importorskip("liverlib.study")
    _, cases = cohort
    for i, case in enumerate(cases):
        p = generate_phantom(case_seed(4, i))
        v = study.read_study(case)
        assert np.array_equal(v.hu, p.hu)
        assert np.array_equal(v.label, p.label)
        assert np.allclose(v.spacing, p.spacing, atol=1e-4)
        assert np.allclose(v.origin, p.origin, atol=1e-3)
        # One livertumorNN per metastasis or HCC; the cysts (one in each of these two) in liverkyst, as liver.
        n_tumor_dirs = len(list((case / "MASKS_DICOM").glob("livertumor*")))
        assert n_tumor_dirs == p.meta["n_lesions"] == len(p.tumors) - 1
        assert v.meta["n_cyst_masks"] == 1 and (case / "MASKS_DICOM" / "liverkyst").is_dir()
        assert (v.label[p.lesion_masks(("cyst",))[0]] == 1).all()
        assert np.array_equal(v.cyst, p.cyst_mask) and v.cyst.any()
        assert v.meta["contrast_phase"] == p.phase.replace("_", " ")  # read from the series description


def test_headers_carry_fake_identity(cohort):
    _, cases = cohort
    p = generate_phantom(case_seed(4, 0))
    f = next((cases[0] / "PATIENT_DICOM").iterdir())
    ds = pydicom.dcmread(f)
    for key in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "AccessionNumber",
                "StudyDate", "ReferringPhysicianName"):
        assert str(ds.data_element(key).value) == p.identity[key]
    assert ds.RescaleIntercept == -1024 and ds.Modality == "CT"
    assert int(p.identity["PatientAge"][:3]) >= 25
    mask = pydicom.dcmread(next((cases[0] / "MASKS_DICOM" / "liver").iterdir()))
    assert mask.StudyInstanceUID == ds.StudyInstanceUID
    assert mask.FrameOfReferenceUID == ds.FrameOfReferenceUID
    assert mask.SeriesInstanceUID != ds.SeriesInstanceUID
    assert set(np.unique(mask.pixel_array)) <= {0, 255}


def test_cli_arguments():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["out", "--n", "3", "--seed", "9", "--matrix", "512", "--workers", "2"])
    assert (args.n, args.seed, args.matrix, args.workers) == (3, 9, 512, 2)
    with pytest.raises(SystemExit):
        parser.parse_args(["out", "--matrix", "300"])


#: SHA-256 of the files the per-slice ``Dataset.save_as`` writer (commit 1e9c29f,
#: before shared tags were encoded once) wrote for the series below.
GOLDEN_SERIES_SHA256 = "177407da2c646b3328ed8277aa000891236c5a8ce7d3ab8ab14cb26ef921f1f9"


def test_writer_bytes_match_the_save_as_writer(tmp_path):
    """Shared tags are encoded once, yet every file (names included) is exactly
    what the earlier per-slice ``Dataset.save_as`` writer produced."""
    import hashlib

    from liverlib.dicom_write import write_dicom_series

    hu = (np.arange(4 * 6 * 5, dtype=np.int32).reshape(4, 6, 5) * 7 - 1000).astype(np.int16)
    write_dicom_series(hu, (2.5, 0.7, 0.8), tmp_path, origin=(-10.0, 5.0, -300.0), flip=(True, False, True),
                       uid_seed="golden", name_order=np.array([2, 0, 3, 1]), extra={"KVP": 120})
    digest = hashlib.sha256()
    for f in sorted(tmp_path.iterdir()):
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    assert digest.hexdigest() == GOLDEN_SERIES_SHA256
    with pytest.raises(ValueError, match="per-slice"):
        write_dicom_series(hu, (2.5, 0.7, 0.8), tmp_path / "b", extra={"InstanceNumber": 1})


def test_float_hu_with_slope_round_trips(tmp_path):
    from liverlib.dicom_write import write_dicom_series
    from liverlib.study import read_study

    hu = np.array([[[-1000.0, 0.4], [60.6, 1500.0]]] * 3, dtype=np.float32)
    write_dicom_series(hu, (2.0, 0.7, 0.7), tmp_path, rescale_slope=0.5)
    v = read_study(tmp_path)
    assert np.allclose(v.hu, np.round(hu * 2) / 2)
    with pytest.raises(ValueError, match="int16"):
        write_dicom_series(hu * 100, (2.0, 0.7, 0.7), tmp_path / "b")
