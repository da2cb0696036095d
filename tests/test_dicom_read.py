"""DICOM series reading: geometry, sorting, rescale, real pydicom files."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from conftest import asymmetric_volume, pydicom_test_file

from liverlib import read_study
from liverlib.dicom_write import write_dicom_series
from liverlib.errors import (
    CorruptDicomError,
    MixedStudiesError,
    NotCTError,
    OrientationError,
    SliceGapError,
    UnevenSpacingError,
    UnsupportedImageError,
)


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


def _edit(paths, change):
    """Rewrite each file of a series after ``change(index, dataset)``."""
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        change(k, ds)
        ds.save_as(path)


def test_unsigned_stored_values_with_a_negative_intercept(tmp_path, volume):
    # Many scanners store CT as unsigned 0-4095 with intercept -1024: -1000 HU air is stored as 24.
    paths = write_dicom_series(volume.hu, volume.spacing, tmp_path / "s", origin=volume.origin)

    def unsigned(k, ds):
        stored = ds.pixel_array.astype(np.int32)  # signed stored values, intercept -1024 already
        assert stored.min() >= 0
        ds.PixelRepresentation = 0
        ds.PixelData = stored.astype(np.uint16).tobytes()

    _edit(paths, unsigned)
    got = read_study(tmp_path / "s")
    np.testing.assert_array_equal(got.hu, volume.hu)
    assert got.hu.min() < -900  # air, through the intercept


@pytest.mark.parametrize("keyword, value, error, words", [
    ("ImagePositionPatient", None, OrientationError, "no ImagePositionPatient"),
    ("ImagePositionPatient", [1.0, 2.0], CorruptDicomError, "3 expected"),
    ("ImageOrientationPatient", [1, 0, 0, 0, 1], CorruptDicomError, "6 expected"),
    ("PixelSpacing", 0.7, CorruptDicomError, "2 expected"),
    ("PixelSpacing", None, OrientationError, "no PixelSpacing"),
    ("RescaleIntercept", "abc", CorruptDicomError, "RescaleIntercept"),
])
def test_a_malformed_header_is_an_error_naming_the_slice(tmp_path, volume, keyword, value, error, words):
    paths = write_dicom_series(volume.hu, volume.spacing, tmp_path / "s", origin=volume.origin)
    bad = paths[5]
    ds = pydicom.dcmread(bad)
    if value is None:
        del ds[keyword]
    elif keyword == "RescaleIntercept":
        ds[keyword] = pydicom.DataElement(0x00281052, "LO", value)  # a VR mistake, as some exporters make
    else:
        setattr(ds, keyword, value)
    ds.save_as(bad)
    with pytest.raises(error, match=words) as info:
        read_study(tmp_path / "s")
    assert info.value.path == str(bad)


def test_uneven_slice_steps_are_refused_not_averaged(tmp_path, volume):
    paths = write_dicom_series(volume.hu, volume.spacing, tmp_path / "s", origin=volume.origin)
    # the upper half 1.4x as far apart: its mean step would misplace the last slice by several mm
    z0 = volume.origin[2]
    _edit(paths, lambda k, ds: setattr(ds, "ImagePositionPatient", [
        *ds.ImagePositionPatient[:2], z0 + 2.5 * min(k, 6) + 3.5 * max(k - 6, 0)]))
    with pytest.raises(UnevenSpacingError, match="not resampled"):
        read_study(tmp_path / "s")


def test_position_jitter_of_scanners_is_not_uneven(tmp_path, volume):
    paths = write_dicom_series(volume.hu, volume.spacing, tmp_path / "s", origin=volume.origin)
    jitter = np.random.default_rng(0).uniform(-0.03, 0.03, len(paths))
    _edit(paths, lambda k, ds: setattr(ds, "ImagePositionPatient", [
        *ds.ImagePositionPatient[:2], float(ds.ImagePositionPatient[2]) + jitter[k]]))
    np.testing.assert_array_equal(read_study(tmp_path / "s").hu, volume.hu)


def test_pixel_spacing_that_changes_within_a_series_is_refused(tmp_path, volume):
    paths = write_dicom_series(volume.hu, volume.spacing, tmp_path / "s", origin=volume.origin)
    ds = pydicom.dcmread(paths[3])
    ds.PixelSpacing = [0.9, 0.9]
    ds.save_as(paths[3])
    with pytest.raises(OrientationError, match="pixel spacing"):
        read_study(tmp_path / "s")


def test_files_without_preamble_and_file_meta_are_read(tmp_path, volume):
    from pydicom.filebase import DicomFileLike
    from pydicom.filewriter import write_dataset

    paths = write_dicom_series(volume.hu, volume.spacing, tmp_path / "s", origin=volume.origin)
    for path in (paths[0], paths[-1]):  # an older archive's raw data sets: no 128 bytes, no DICM, no group 2
        ds = pydicom.dcmread(path)
        with path.open("wb") as fh:
            fp = DicomFileLike(fh)
            fp.is_little_endian, fp.is_implicit_VR = True, False
            write_dataset(fp, ds)
    got = read_study(tmp_path / "s")
    np.testing.assert_array_equal(got.hu, volume.hu)


def test_enhanced_multiframe_ct_says_what_it_is(tmp_path, volume):
    path = write_dicom_series(volume.hu[:3], volume.spacing, tmp_path / "s")[0]
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 3
    ds.PixelData = ds.PixelData * 3
    ds.save_as(path)
    with pytest.raises(UnsupportedImageError, match="multi-frame object.*3 frames"):
        read_study(path)


def test_a_copied_file_is_dropped_and_counted(tmp_path, volume):
    paths = write_dicom_series(volume.hu, volume.spacing, tmp_path / "s", origin=volume.origin)
    shutil.copy(paths[4], tmp_path / "s" / "copy of image")
    got = read_study(tmp_path / "s")
    np.testing.assert_array_equal(got.hu, volume.hu)
    assert got.meta["dropped"] == {"duplicate_copy": 1}


def test_series_of_two_studies_in_one_folder_are_an_error(tmp_path, volume):
    write_dicom_series(volume.hu, volume.spacing, tmp_path / "s" / "PA0" / "ST0" / "SE0", study_uid="1.2.3.1")
    write_dicom_series(volume.hu[:8], volume.spacing, tmp_path / "s" / "PA1" / "ST0" / "SE0", study_uid="1.2.3.2")
    with pytest.raises(MixedStudiesError, match="holds 2 studies"):
        read_study(tmp_path / "s")


@pytest.mark.parametrize("names", [("a", "b"), ("b", "a")])
def test_between_series_of_equal_size_the_lower_series_number_is_read(tmp_path, volume, names):
    write_dicom_series(volume.hu, volume.spacing, tmp_path / "s" / names[0], series_number=3)
    write_dicom_series(volume.hu + 100, volume.spacing, tmp_path / "s" / names[1], series_number=2)
    got = read_study(tmp_path / "s")
    np.testing.assert_array_equal(got.hu, volume.hu + 100)
    assert "SeriesNumber 2" in got.meta["series_choice"] and got.meta["n_series_skipped"] == 1


def test_a_scout_stored_in_the_axial_series_is_dropped_and_counted(tmp_path):
    vol = asymmetric_volume(shape=(24, 20, 24))
    paths = write_dicom_series(vol.hu, vol.spacing, tmp_path / "s", origin=vol.origin)
    scout = pydicom.dcmread(paths[0])
    scout.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]  # sagittal, ImageType without LOCALIZER
    scout.SOPInstanceUID = pydicom.uid.generate_uid()
    scout.save_as(tmp_path / "s" / "scout")
    got = read_study(tmp_path / "s")
    np.testing.assert_array_equal(got.hu, vol.hu)
    assert got.meta["dropped"] == {"odd_orientation": 1}
    # Many slices off the common orientation are not scouts: the series is refused.
    for k in range(1, 8):
        ds = pydicom.dcmread(paths[k])
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
        ds.save_as(paths[k])
    with pytest.raises(OrientationError, match="orientation"):
        read_study(tmp_path / "s")


def test_pixel_data_of_the_series_not_chosen_is_never_read(tmp_path):
    from liverlib.dicom_read import group_series

    vol = asymmetric_volume(shape=(4, 200, 200))  # 80 kB a slice: above the deferral size
    write_dicom_series(vol.hu, vol.spacing, tmp_path / "s" / "a", series_number=1)
    write_dicom_series(vol.hu[:3], vol.spacing, tmp_path / "s" / "b", series_number=2)
    groups, _ = group_series(tmp_path / "s")
    for group in groups.values():
        for _, ds in group:
            assert ds._dict[0x7FE00010].value is None  # deferred: still on disk after grouping
    np.testing.assert_array_equal(read_study(tmp_path / "s").hu, vol.hu)
    cut = tmp_path / "s" / "a" / "image_2"
    cut.write_bytes(cut.read_bytes()[:-1000])  # a deferred element is still checked for truncation
    with pytest.raises(CorruptDicomError, match="pixel data truncated"):
        read_study(tmp_path / "s")


def test_orientation_float_noise_is_not_an_odd_slice_and_rounded_positions_are_not_uneven(tmp_path):
    vol = asymmetric_volume(shape=(60, 12, 12), spacing=(0.625, 1.0, 1.0))
    paths = write_dicom_series(vol.hu, vol.spacing, tmp_path / "s", origin=(0.0, 0.0, 12.3))
    noise = np.random.default_rng(0).uniform(-4e-4, 4e-4, (len(paths), 6))

    def change(k, ds):
        ds.ImageOrientationPatient = [float(v) for v in np.array([1, 0, 0, 0, 1, 0]) + noise[k]]
        # positions stored to 0.1 mm, as some scanners do: steps of 0.6 and 0.7 mm
        ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2], round(float(ds.ImagePositionPatient[2]), 1)]

    _edit(paths, change)
    got = read_study(tmp_path / "s")
    assert got.shape == vol.shape and "odd_orientation" not in got.meta["dropped"]
    np.testing.assert_allclose(got.spacing[0], 0.625, atol=0.01)


@pytest.mark.parametrize("modality", ["US", "CT"])
def test_a_multiframe_object_beside_the_series_is_skipped_and_counted(tmp_path, volume, modality):
    write_dicom_series(volume.hu, volume.spacing, tmp_path / "s" / "series", origin=volume.origin)
    clip = write_dicom_series(volume.hu[:3], volume.spacing, tmp_path / "s" / "clip", uid_seed="clip")[0]
    ds = pydicom.dcmread(clip)
    ds.NumberOfFrames, ds.Modality = 3, modality
    ds.PixelData = ds.PixelData * 3
    ds.save_as(clip)
    for other in clip.parent.iterdir():
        if other != clip:
            other.unlink()
    got = read_study(tmp_path / "s")
    np.testing.assert_array_equal(got.hu, volume.hu)
    assert got.meta["dropped"] == {"multi_frame": 1}


def test_a_malformed_frame_count_is_an_error_naming_the_file(tmp_path, volume):
    path = write_dicom_series(volume.hu[:3], volume.spacing, tmp_path / "s")[1]
    ds = pydicom.dcmread(path)
    ds.add_new(0x00280008, "LO", "abc")  # NumberOfFrames, written as text by a broken exporter
    ds.save_as(path)
    with pytest.raises(CorruptDicomError, match="NumberOfFrames 'abc'"):
        read_study(path)
