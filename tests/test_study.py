"""One anatomy, every layout: read_study gives the same array and label."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest
from conftest import asymmetric_volume, write_ircadb_case

from liverlib import discover_studies, read_study
from liverlib.dicom_write import write_dicom_series
from liverlib.errors import (
    CorruptImageError,
    GeometryMismatchError,
    LabelValueError,
    UnknownLayoutError,
    UnsupportedImageError,
)
from liverlib.interim import load_case, save_case
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


def write_msd_task(task, volume, stem, labels):
    """An MSD task folder: dataset.json with ``labels``, one image and its label."""
    write_volume_nifti(volume.hu, volume, task / "imagesTr" / f"{stem}.nii.gz")
    write_volume_nifti(volume.label, volume, task / "labelsTr" / f"{stem}.nii.gz")
    (task / "dataset.json").write_text(json.dumps({"name": task.name, "labels": labels, "modality": {"0": "CT"}}))


def test_msd_tasks_other_than_liver_are_skipped_and_refused(tmp_path, volume):
    # A Decathlon root: only Task03's labels are liver and tumor.
    write_msd_task(tmp_path / "Task03_Liver", volume, "liver_0", {"0": "background", "1": "liver", "2": "cancer"})
    write_msd_task(tmp_path / "Task07_Pancreas", volume, "pancreas_001", {"0": "background", "1": "pancreas", "2": "cancer"})
    write_msd_task(tmp_path / "Task08_HepaticVessel", volume, "hepaticvessel_001", {"0": "background", "1": "Vessel", "2": "Tumour"})
    write_msd_task(tmp_path / "Task09_Spleen", volume, "spleen_2", {"0": "background", "1": "spleen"})
    found = [(p.relative_to(tmp_path).as_posix(), layout) for p, layout in discover_studies(tmp_path)]
    # The skipped task folders do not turn into DICOM studies either.
    assert found == [("Task03_Liver/imagesTr/liver_0.nii.gz", "msd")]
    with pytest.raises(UnknownLayoutError, match=r"Task07_Pancreas/dataset.json: dataset.json labels .*'1': 'pancreas'"):
        read_study(tmp_path / "Task07_Pancreas" / "imagesTr" / "pancreas_001.nii.gz")
    with pytest.raises(UnknownLayoutError, match=r"Task09_Spleen/dataset.json: .*'1': 'spleen'"):
        read_study(tmp_path / "Task09_Spleen" / "imagesTr" / "spleen_2.nii.gz")


@pytest.mark.parametrize("labels", [{"0": "Background", "1": "Liver", "2": "Liver Tumour"},
                                    {"background": 0, "liver": 1, "tumor": 2}])  # nnU-Net v2's way round
def test_msd_liver_task_names_any_case(tmp_path, volume, labels):
    write_msd_task(tmp_path / "Task03_Liver", volume, "liver_4", labels)
    image = tmp_path / "Task03_Liver" / "imagesTr" / "liver_4.nii.gz"
    assert discover_studies(tmp_path) == [(image, "msd")]
    assert_same(read_study(image), volume)


def test_nnunet_v2_labels_of_another_organ_are_refused(tmp_path, volume):
    write_msd_task(tmp_path / "Dataset009_Spleen", volume, "spleen_4", {"background": 0, "spleen": 1})
    image = tmp_path / "Dataset009_Spleen" / "imagesTr" / "spleen_4.nii.gz"
    assert discover_studies(tmp_path) == []
    with pytest.raises(UnknownLayoutError, match="spleen"):
        read_study(image)


def rewrite_mask(case, volume, name, mask, **kwargs):
    """Replace one 3D-IRCADb mask series by ``mask`` (z, y, x) stored as given."""
    shutil.rmtree(case / "MASKS_DICOM" / name)
    write_dicom_series(mask, volume.spacing, case / "MASKS_DICOM" / name, **{"origin": volume.origin, **kwargs})


def test_ircadb_masks_with_ct_intercept_keep_their_voxels(tmp_path, volume):
    # Stored 0/255 under a copied CT header (intercept -1024): rescaled, 255 became -769 and the label emptied.
    case = write_ircadb_case(tmp_path / "case", volume)
    for name, inside in [("liver", volume.label >= 1), ("livertumor01", volume.label == 2)]:
        rewrite_mask(case, volume, name, (inside * 255 - 1024).astype(np.int16), rescale_intercept=-1024)
    assert_same(read_study(case), volume)


@pytest.mark.parametrize("name", ["liverkyst", "liverkyste", "livercyst"])
def test_ircadb_cyst_masks_are_liver_not_tumor(tmp_path, volume, name):
    # 3D-IRCADb keeps benign cysts in their own masks: liver (1), even where the liver
    # mask left them out, and never tumor; a tumor mask overlapping one still wins.
    case = write_ircadb_case(tmp_path / "case", volume)
    liver = volume.label >= 1
    cyst = np.zeros(volume.shape, bool)
    cyst[4:7, 2:8, 2:6] = True  # across the liver's edge, and over a corner of its tumor
    tumor_overlap = cyst & (volume.label == 2)
    assert not liver[cyst].all() and tumor_overlap.any()
    rewrite_mask(case, volume, "liver", (liver & ~cyst).astype(np.int16) * 255, rescale_intercept=0)
    write_dicom_series(cyst.astype(np.int16) * 255, volume.spacing, case / "MASKS_DICOM" / name,
                       origin=volume.origin, rescale_intercept=0)
    read = read_study(case)
    expected = volume.label.copy()
    expected[cyst] = 1
    expected[volume.label == 2] = 2
    assert np.array_equal(read.label, expected)
    assert (read.label[cyst & ~tumor_overlap] == 1).all() and read.meta["n_cyst_masks"] == 1
    # The cysts stay known apart from the label (an evaluation counts those called tumor), through the cache too.
    assert np.array_equal(read.cyst, cyst & ~tumor_overlap)
    cached = load_case(save_case(tmp_path / "interim", read))
    assert np.array_equal(cached.cyst, read.cyst) and np.array_equal(cached.label, read.label)
    assert load_case(save_case(tmp_path / "interim", read_study(write_ircadb_case(tmp_path / "plain", volume)))).cyst is None


def test_ircadb_empty_liver_mask_is_refused(tmp_path, volume):
    case = write_ircadb_case(tmp_path / "case", volume)
    rewrite_mask(case, volume, "liver", np.zeros(volume.shape, np.int16), rescale_intercept=0)
    with pytest.raises(LabelValueError, match=r"liver: liver mask is empty"):
        read_study(case)


@pytest.mark.parametrize("what", ["shape", "grid"])
def test_ircadb_mask_mismatch_names_image_folder(tmp_path, volume, what):
    case = write_ircadb_case(tmp_path / "case", volume)
    liver = (volume.label >= 1).astype(np.int16) * 255
    if what == "shape":
        rewrite_mask(case, volume, "liver", liver[:-2], rescale_intercept=0)
        match = r"liver: mask shape \(10, 20, 24\) differs from image PATIENT_DICOM shape \(12, 20, 24\)"
    else:
        shifted = (volume.origin[0], volume.origin[1], volume.origin[2] + 5.0)
        rewrite_mask(case, volume, "liver", liver, rescale_intercept=0, origin=shifted)
        match = r"liver: mask grid .* differs from image PATIENT_DICOM \(spacing"
    with pytest.raises(GeometryMismatchError, match=match):
        read_study(case)


def test_nifti_nan_voxels_are_refused(tmp_path, volume):
    # Cast to the int16 cache, NaN became 0 HU: water where there was no data.
    hu = volume.hu.astype(np.float32)
    hu[0, :2, :] = np.nan
    write_volume_nifti(hu, volume, tmp_path / "ct.nii.gz")
    with pytest.raises(CorruptImageError, match=rf"ct.nii.gz: 48 of {hu.size} voxels are not finite"):
        read_study(tmp_path / "ct.nii.gz")


def test_nifti_singleton_fourth_axis_is_read_as_3d(tmp_path, volume):
    write_volume_nifti(volume.hu, volume, tmp_path / "volume-1.nii.gz", axcodes=("R", "A", "S"))
    write_volume_nifti(volume.label, volume, tmp_path / "segmentation-1.nii.gz", axcodes=("R", "A", "S"))
    for name in ("volume-1.nii.gz", "segmentation-1.nii.gz"):
        img = nib.load(tmp_path / name)
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[..., None], img.affine), tmp_path / name)
    assert nib.load(tmp_path / "volume-1.nii.gz").shape == (24, 20, 12, 1)
    assert_same(read_study(tmp_path / "volume-1.nii.gz"), volume)


def test_nifti_4d_series_is_refused(tmp_path, volume):
    xyz = np.transpose(volume.hu, (2, 1, 0))
    nib.save(nib.Nifti1Image(np.stack([xyz, xyz], -1), volume.affine_ras()), tmp_path / "ct.nii.gz")
    with pytest.raises(UnsupportedImageError, match=r"ct.nii.gz: expected one 3D volume, got shape \(24, 20, 12, 2\)"):
        read_study(tmp_path / "ct.nii.gz")


@pytest.mark.parametrize(
    ("name", "keep", "match"),
    [
        # Cut inside the header: nibabel said only "Cannot work out file type".
        ("segmentation-1.nii.gz", 40, r"segmentation-1.nii.gz: truncated or not a NIfTI file"),
        ("volume-1.nii.gz", 1000, r"volume-1.nii.gz: image data truncated or damaged"),
    ],
)
def test_truncated_nifti_gz_is_corrupt_image(tmp_path, volume, name, keep, match):
    write_volume_nifti(volume.hu, volume, tmp_path / "volume-1.nii.gz")
    write_volume_nifti(volume.label, volume, tmp_path / "segmentation-1.nii.gz")
    path = tmp_path / name
    assert path.stat().st_size > keep
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(CorruptImageError, match=match):
        read_study(tmp_path / "volume-1.nii.gz")


def test_a_nifti_without_orientation_codes_is_read_with_a_warning(tmp_path, volume, caplog):
    import nibabel as nib

    from liverlib.nifti_io import write_volume_nifti

    path = write_volume_nifti(volume.hu, volume, tmp_path / "ct.nii.gz")
    img = nib.load(path)
    img.set_qform(None, code=0)
    img.set_sform(None, code=0)
    nib.save(img, tmp_path / "bare.nii.gz")
    with caplog.at_level("WARNING"):
        got = read_study(tmp_path / "bare.nii.gz")
    assert got.meta["orientation_unknown"] is True and "no orientation in the NIfTI header" in caplog.text
    assert read_study(path).meta["orientation_unknown"] is False


def test_a_decathlon_root_decodes_its_liver_task(tmp_path, volume):
    from liverlib.decode import decode_cohort
    from liverlib.interim import read_cases

    write_msd_task(tmp_path / "raw" / "Task03_Liver", volume, "liver_0", {"0": "background", "1": "liver", "2": "cancer"})
    write_msd_task(tmp_path / "raw" / "Task09_Spleen", volume, "spleen_2", {"0": "background", "1": "spleen"})
    results = decode_cohort(tmp_path / "raw", "msd", interim_root=tmp_path / "interim", workers=1, progress=False)
    assert [(r.source.split("/")[-1], r.status) for r in results] == [("liver_0.nii.gz", "decoded")]
    assert [r["layout"] for r in read_cases(tmp_path / "interim" / "msd")] == ["msd"]
    again = decode_cohort(tmp_path / "raw", "msd", interim_root=tmp_path / "interim", workers=1, progress=False)
    assert [r.status for r in again] == ["skipped"]  # its label (in ../labelsTr) is in the fingerprint
