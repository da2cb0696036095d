"""One anatomy, every layout: read_study gives the same array and label."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import asymmetric_volume, write_ircadb_case

from liverlib import discover_studies, read_study
from liverlib.dicom_write import write_dicom_series
from liverlib.nifti_io import write_volume_nifti
from liverlib.study import detect_layout

AXCODES = [("L", "P", "S"), ("R", "A", "S"), ("R", "P", "I"), ("A", "S", "L"), ("I", "L", "A")]


def assert_same(got, expected, with_label=True):
    np.testing.assert_array_equal(got.hu, expected.hu)
    np.testing.assert_allclose(got.spacing, expected.spacing, atol=1e-5)
    np.testing.assert_allclose(got.origin, expected.origin, atol=1e-3)
    if with_label:
        np.testing.assert_array_equal(got.label, expected.label)


@pytest.mark.parametrize("nested", [False, True])
def test_ircadb_case(tmp_path, volume, nested):
    case = write_ircadb_case(tmp_path / "3Dircadb1.1", volume, nested=nested, flip=(True, False, True))
    got = read_study(case)
    assert got.meta["layout"] == "ircadb" and got.meta["n_tumor_masks"] == 1
    assert_same(got, volume)


@pytest.mark.parametrize("axcodes", AXCODES)
@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_lits_pair_any_affine(tmp_path, volume, axcodes, suffix):
    write_volume_nifti(volume.hu, volume, tmp_path / f"volume-7{suffix}", axcodes=axcodes)
    write_volume_nifti(volume.label, volume, tmp_path / f"segmentation-7{suffix}", axcodes=axcodes)
    got = read_study(tmp_path / f"volume-7{suffix}")
    assert got.meta["layout"] == "lits"
    assert_same(got, volume)


def test_msd_task03(tmp_path, volume):
    write_volume_nifti(volume.hu, volume, tmp_path / "imagesTr" / "liver_3.nii.gz", axcodes=("R", "A", "S"))
    write_volume_nifti(volume.label, volume, tmp_path / "labelsTr" / "liver_3.nii.gz", axcodes=("R", "A", "S"))
    got = read_study(tmp_path / "imagesTr" / "liver_3.nii.gz")
    assert got.meta["layout"] == "msd"
    assert_same(got, volume)


def test_same_anatomy_in_all_layouts_gives_same_array(tmp_path, volume):
    write_dicom_series(volume.hu, volume.spacing, tmp_path / "dicom", origin=volume.origin, flip=(False, True, True))
    write_ircadb_case(tmp_path / "ircadb", volume)
    write_volume_nifti(volume.hu, volume, tmp_path / "lits" / "volume-1.nii.gz", axcodes=("R", "A", "S"))
    write_volume_nifti(volume.label, volume, tmp_path / "lits" / "segmentation-1.nii.gz", axcodes=("R", "A", "S"))
    write_volume_nifti(volume.hu, volume, tmp_path / "msd" / "imagesTr" / "liver_1.nii.gz", axcodes=("L", "A", "I"))
    write_volume_nifti(volume.label, volume, tmp_path / "msd" / "labelsTr" / "liver_1.nii.gz", axcodes=("L", "A", "I"))
    reads = [
        read_study(tmp_path / "dicom"),
        read_study(tmp_path / "ircadb"),
        read_study(tmp_path / "lits" / "volume-1.nii.gz"),
        read_study(tmp_path / "msd" / "imagesTr" / "liver_1.nii.gz"),
    ]
    for got in reads:
        assert_same(got, volume, with_label=got.meta["layout"] != "dicom")
    # A pseudonym per layout, never the folder or file name.
    ids = [r.case_id for r in reads]
    assert len(set(ids)) == 4 and not any("volume" in i or "liver" in i for i in ids)


def test_user_pseudonym_and_stable_hash(tmp_path, volume):
    write_dicom_series(volume.hu, volume.spacing, tmp_path / "s")
    assert read_study(tmp_path / "s", case_id="study-A").case_id == "study-A"
    first, second = read_study(tmp_path / "s").case_id, read_study(tmp_path / "s").case_id
    assert first == second and first.startswith("ct-")


def test_discovery_finds_every_layout(tmp_path, volume):
    write_dicom_series(volume.hu, volume.spacing, tmp_path / "JOHN_DOE" / "series")
    write_ircadb_case(tmp_path / "3Dircadb1.2", volume)
    write_volume_nifti(volume.hu, volume, tmp_path / "lits" / "volume-1.nii")
    write_volume_nifti(volume.label, volume, tmp_path / "lits" / "segmentation-1.nii")
    write_volume_nifti(volume.hu, volume, tmp_path / "Task03_Liver" / "imagesTr" / "liver_5.nii.gz")
    (tmp_path / "Task03_Liver" / "imagesTr" / "._liver_5.nii.gz").write_bytes(b"\x00")  # macOS fork
    found = {(p.relative_to(tmp_path).as_posix(), layout) for p, layout in discover_studies(tmp_path)}
    assert found == {
        ("JOHN_DOE", "dicom"),
        ("3Dircadb1.2", "ircadb"),
        ("lits/volume-1.nii", "lits"),
        ("Task03_Liver/imagesTr/liver_5.nii.gz", "msd"),
    }


def test_detect_layout_of_plain_nifti(tmp_path, volume):
    write_volume_nifti(volume.hu, volume, tmp_path / "ct.nii.gz")
    assert detect_layout(tmp_path / "ct.nii.gz") == "nifti"
    assert read_study(tmp_path / "ct.nii.gz").label is None


def test_fractional_nifti_hu_are_not_truncated(tmp_path):
    # Whole HU everywhere except one plane: the array must stay float and exact.
    volume = asymmetric_volume(shape=(40, 20, 24))
    hu = volume.hu.astype(np.float32)
    hu[..., 7] += 0.5  # one sagittal plane: axis 0 of the file, which sampling skipped
    write_volume_nifti(hu, volume, tmp_path / "ct.nii.gz")
    got = read_study(tmp_path / "ct.nii.gz")
    assert got.hu.dtype == np.float32
    np.testing.assert_array_equal(got.hu, hu)
    write_volume_nifti(volume.hu.astype(np.float32), volume, tmp_path / "whole.nii.gz")
    assert read_study(tmp_path / "whole.nii.gz").hu.dtype == np.int16
