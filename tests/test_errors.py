"""Every kind of bad input gets a typed error naming the file and the reason."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest
from conftest import asymmetric_volume, pydicom_test_file, write_ircadb_case

from liverlib import read_study
from liverlib.dicom_write import write_dicom_series
from liverlib.errors import (
    CorruptDicomError,
    DuplicateSliceError,
    EmptyStudyError,
    GantryTiltError,
    GeometryMismatchError,
    LabelValueError,
    NoPixelDataError,
    NotCTError,
    NotDicomError,
    OrientationError,
    SliceGapError,
    StudyError,
    UnsupportedTransferSyntaxError,
)
from liverlib.nifti_io import write_volume_nifti


@pytest.fixture
def series(tmp_path, volume):
    paths = write_dicom_series(volume.hu, volume.spacing, tmp_path / "s", origin=volume.origin)
    return tmp_path / "s", paths


def test_not_dicom(tmp_path):
    path = tmp_path / "IM0001"
    path.write_text("this is a radiology report, not an image")
    with pytest.raises(NotDicomError, match=r"IM0001: not a DICOM file"):
        read_study(path)


def test_truncated_header(series):
    _, paths = series
    paths[0].write_bytes(paths[0].read_bytes()[:300])
    with pytest.raises(CorruptDicomError, match=rf"{paths[0].name}: header truncated"):
        read_study(paths[0])


def test_truncated_pixel_data_names_byte_counts(series):
    folder, paths = series
    data = paths[4].read_bytes()
    paths[4].write_bytes(data[:-100])
    with pytest.raises(CorruptDicomError, match=rf"{paths[4].name}: pixel data truncated \(860 of 960 bytes\)"):
        read_study(folder)


def test_no_pixel_data():
    with pytest.raises(NoPixelDataError, match="rtplan.dcm: no pixel data"):
        read_study(pydicom_test_file("rtplan.dcm"))


def test_non_ct_modality(tmp_path):
    with pytest.raises(NotCTError, match="MR_small.dcm: modality is MR"):
        read_study(pydicom_test_file("MR_small.dcm"))
    folder = tmp_path / "pet"
    write_dicom_series(asymmetric_volume().hu, (2, 2, 2), folder, modality="PT")
    with pytest.raises(NotCTError, match="modality is PT"):
        read_study(folder)


def test_slice_gap(series):
    folder, paths = series
    paths[5].unlink()
    with pytest.raises(SliceGapError, match=rf"{paths[6].name}: slice gap of 5.00 mm after {paths[4].name}"):
        read_study(folder)


def test_duplicate_position(series):
    folder, paths = series
    ds = pydicom.dcmread(paths[3])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(folder / "copy_of_3")
    with pytest.raises(DuplicateSliceError, match="same slice position"):
        read_study(folder)


def test_inconsistent_orientation(series):
    folder, paths = series
    ds = pydicom.dcmread(paths[2])
    ds.ImageOrientationPatient = [0, 1, 0, 1, 0, 0]
    ds.save_as(paths[2])
    with pytest.raises(OrientationError, match=rf"{paths[2].name}: orientation"):
        read_study(folder)


def test_gantry_tilt_is_refused(series):
    folder, paths = series
    for k, path in enumerate(paths):  # positions creep posteriorly: a 20 degree tilt
        ds = pydicom.dcmread(path)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y + k * 2.5 * np.tan(np.radians(20)), z]
        ds.save_as(path)
    with pytest.raises(GantryTiltError, match=r"20.0 degrees off the slice normal"):
        read_study(folder)


def test_compressed_syntax_without_decoder(series):
    folder, paths = series
    ds = pydicom.dcmread(paths[0])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.102"  # MPEG-4 AVC/H.264: no decoder plugin exists
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\x0a" + b"\x00" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(paths[0], enforce_file_format=True)
    with pytest.raises(UnsupportedTransferSyntaxError, match=rf"{paths[0].name}: no installed decoder for transfer syntax MPEG-4 AVC"):
        read_study(folder)


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyStudyError, match="empty: no files found"):
        read_study(tmp_path / "empty")


def test_folder_without_images(tmp_path):
    shutil.copy(pydicom_test_file("rtplan.dcm"), tmp_path / "plan")
    (tmp_path / "report.bin").write_bytes(b"0" * 200)
    with pytest.raises(EmptyStudyError, match=r"no CT image series among 2 files \(1 not dicom, 1 no pixel data\)"):
        read_study(tmp_path)


def test_ircadb_mask_of_other_shape(tmp_path, volume):
    case = write_ircadb_case(tmp_path / "case", volume)
    shutil.rmtree(case / "MASKS_DICOM" / "livertumor01")
    write_dicom_series(np.zeros((12, 10, 24), np.int16), volume.spacing, case / "MASKS_DICOM" / "livertumor01",
                       origin=volume.origin, rescale_intercept=0)
    with pytest.raises(GeometryMismatchError, match=r"livertumor01: mask shape \(12, 10, 24\) differs"):
        read_study(case)


def test_ircadb_mask_of_other_position(tmp_path, volume):
    case = write_ircadb_case(tmp_path / "case", volume)
    shutil.rmtree(case / "MASKS_DICOM" / "liver")
    shifted = (volume.origin[0], volume.origin[1], volume.origin[2] + 5.0)
    write_dicom_series(np.zeros(volume.shape, np.int16), volume.spacing, case / "MASKS_DICOM" / "liver",
                       origin=shifted, rescale_intercept=0)
    with pytest.raises(GeometryMismatchError, match="liver: mask grid"):
        read_study(case)


def test_nifti_label_of_other_shape(tmp_path, volume):
    write_volume_nifti(volume.hu, volume, tmp_path / "volume-1.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((5, 5, 5), np.uint8), np.eye(4)), tmp_path / "segmentation-1.nii.gz")
    with pytest.raises(GeometryMismatchError, match="segmentation-1.nii.gz: shape"):
        read_study(tmp_path / "volume-1.nii.gz")


def test_nifti_label_values_outside_0_1_2(tmp_path, volume):
    write_volume_nifti(volume.hu, volume, tmp_path / "volume-2.nii.gz")
    bad = volume.label.copy()
    bad[0, 0, 0] = 5
    write_volume_nifti(bad, volume, tmp_path / "segmentation-2.nii.gz")
    with pytest.raises(LabelValueError, match="segmentation-2.nii.gz: label values must be 0 .* found 5"):
        read_study(tmp_path / "volume-2.nii.gz")


def test_truncated_nifti(tmp_path, volume):
    path = write_volume_nifti(volume.hu, volume, tmp_path / "volume-3.nii")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(StudyError, match="volume-3.nii"):
        read_study(path)


def test_missing_path(tmp_path):
    with pytest.raises(StudyError, match="nowhere: does not exist"):
        read_study(tmp_path / "nowhere")
