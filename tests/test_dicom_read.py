"""DICOM series reading: geometry, sorting, rescale, real pydicom files."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from conftest import asymmetric_volume, pydicom_test_file

from liverlib import read_study
from liverlib.dicom_write import write_dicom_series
from liverlib.errors import NotCTError, SliceGapError


@pytest.mark.parametrize("flip", [(False, False, False), (True, False, False), (False, True, True), (True, True, True)])
def test_shuffled_series_reads_back_exactly(tmp_path, volume, flip):
    # File names run against slice order; flipped axes are only described by the headers.
    order = np.random.default_rng(1).permutation(volume.shape[0])
    write_dicom_series(volume.hu, volume.spacing, tmp_path / "s", origin=volume.origin, flip=flip, name_order=order)
    got = read_study(tmp_path / "s")
    np.testing.assert_array_equal(got.hu, volume.hu)
    assert got.hu.dtype == np.int16
    np.testing.assert_allclose(got.spacing, volume.spacing)
    np.testing.assert_allclose(got.origin, volume.origin, atol=1e-3)
    np.testing.assert_allclose(got.direction, np.eye(3), atol=1e-9)
    assert got.label is None and got.meta["layout"] == "dicom"


def test_instance_number_is_ignored(tmp_path, volume):
    paths = write_dicom_series(volume.hu, volume.spacing, tmp_path / "s", origin=volume.origin)
    for n, path in enumerate(paths):  # InstanceNumber now runs against position
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = len(paths) - n
        ds.save_as(path)
    np.testing.assert_array_equal(read_study(tmp_path / "s").hu, volume.hu)


def test_rescale_slope_gives_float_hu(tmp_path):
    vol = asymmetric_volume()
    hu = vol.hu.astype(np.float32) + 0.5  # half-HU steps need slope 0.5
    write_dicom_series(hu, vol.spacing, tmp_path / "s", rescale_slope=0.5, rescale_intercept=-1024.5)
    got = read_study(tmp_path / "s")
    assert got.hu.dtype == np.float32
    np.testing.assert_allclose(got.hu, hu, atol=1e-4)


def test_nested_folders_and_stray_files(tmp_path, volume):
    write_dicom_series(volume.hu[:6], volume.spacing, tmp_path / "s" / "a", origin=volume.origin)
    (tmp_path / "s" / "notes.txt").write_text("reading list")
    (tmp_path / "s" / "a" / "thumbs.db").write_bytes(b"\x00" * 100)
    got = read_study(tmp_path / "s")
    np.testing.assert_array_equal(got.hu, volume.hu[:6])
    assert got.meta["dropped"] == {"not_dicom": 1}


def test_largest_of_several_series_is_chosen_and_said(tmp_path, volume):
    write_dicom_series(volume.hu, volume.spacing, tmp_path / "s" / "thin", series_number=1)
    write_dicom_series(volume.hu[::3], (7.5, 1.5, 1.25), tmp_path / "s" / "thick", series_number=2)
    got = read_study(tmp_path / "s")
    assert got.shape == volume.shape
    assert "largest of 2 series" in got.meta["series_choice"]


def test_pydicom_ct_small():
    got = read_study(pydicom_test_file("CT_small.dcm"))
    ds = pydicom.dcmread(pydicom_test_file("CT_small.dcm"))
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert got.shape == (1, 128, 128)
    np.testing.assert_array_equal(got.hu[0], expected)
    assert got.spacing[1:] == pytest.approx((0.661468, 0.661468))


def test_pydicom_jpeg2000_ct_decodes_through_pylibjpeg():
    got = read_study(pydicom_test_file("693_J2KI.dcm"))
    assert got.shape == (1, 512, 512)
    assert got.meta["transfer_syntax"] == "1.2.840.10008.1.2.4.91"
    # Air around the patient decodes to about -1000 HU, soft tissue near 0-100.
    assert np.percentile(got.hu, 5) < -900 and -100 < np.median(got.hu[0, 200:300, 200:300]) < 200


def test_pydicom_oblique_ct_keeps_its_rotation():
    got = read_study(pydicom_test_file("J2K_pixelrep_mismatch.dcm"))
    # ImageOrientationPatient col = (0, 0.9272, -0.3746): a 22 degree tilt about x.
    assert got.direction[1, 1] == pytest.approx(0.9272, abs=1e-4)
    assert got.direction[2, 1] == pytest.approx(-0.3746, abs=1e-4)


def test_dicomdir_series_against_instance_numbers_and_localizers(tmp_path):
    # 98892001: CT5N runs InstanceNumber against z, CT2N holds two localizers.
    shutil.copytree(pydicom_test_file("dicomdirtests/98892001"), tmp_path / "s")
    got = read_study(tmp_path / "s")
    assert got.shape == (5, 16, 16)
    assert got.meta["dropped"] == {"localizer": 2}
    z = [float(pydicom.dcmread(p).ImagePositionPatient[2]) for p in (tmp_path / "s" / "CT5N").iterdir()]
    assert got.origin[2] == pytest.approx(min(z))
    first = pydicom.dcmread(tmp_path / "s" / "CT5N" / "3353")  # lowest z, InstanceNumber 10
    np.testing.assert_array_equal(got.hu[0], first.pixel_array + int(first.RescaleIntercept))


def test_dicomdir_series_with_z_gap_is_refused():
    with pytest.raises(SliceGapError, match=r"17136: slice gap of 202.50 mm"):
        read_study(pydicom_test_file("dicomdirtests/77654033"))


def test_mr_only_folder_is_not_ct():
    with pytest.raises(NotCTError, match="modality is MR"):
        read_study(pydicom_test_file("dicomdirtests/98892003"))
