"""The decode step: cohort, skipping, failures table, no PHI written."""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest
from conftest import asymmetric_volume, write_ircadb_case

from liverlib.cli import main
from liverlib.decode import decode_cohort, decode_one, summary_table
from liverlib.dicom_write import DEFAULT_IDENTITY, write_dicom_series
from liverlib.interim import load_case, read_cases, write_cases
from liverlib.nifti_io import write_volume_nifti

PLANTED = {
    "PatientName": "ZAPHOD^BEEBLEBROX",
    "PatientID": "PHI-4242-ID",
    "PatientBirthDate": "19510317",
    "PatientSex": "M",
    "PatientAge": "073Y",
    "InstitutionName": "Magrathea Clinic",
    "AccessionNumber": "ACC-77881",
    "StudyDate": "20230911",
    "SeriesDate": "20230911",
    "AcquisitionDate": "20230911",
    "ContentDate": "20230911",
    "StudyTime": "101500",
    "ReferringPhysicianName": "PROSTETNIC^VOGON",
    "StudyDescription": "CT ABD Liver mets follow-up Zaphod",
    "SeriesDescription": "PV phase Magrathea protocol",
    "StudyID": "STUDY-9911",
}


@pytest.fixture
def cohort(tmp_path):
    src = tmp_path / "raw"
    vol = asymmetric_volume()
    write_ircadb_case(src / "case_a", vol)
    write_dicom_series(vol.hu, vol.spacing, src / "ZAPHOD_BEEBLEBROX", identity=PLANTED, uid_seed="planted")
    write_volume_nifti(vol.hu, vol, src / "lits" / "volume-0.nii.gz", axcodes=("R", "A", "S"))
    write_volume_nifti(vol.label, vol, src / "lits" / "segmentation-0.nii.gz", axcodes=("R", "A", "S"))
    bad = write_dicom_series(vol.hu, vol.spacing, src / "broken", uid_seed="broken")
    bad[3].write_bytes(bad[3].read_bytes()[:-50])
    return src


def test_cohort_decodes_good_studies_and_reports_bad(cohort, tmp_path):
    results = decode_cohort(cohort, "demo", interim_root=tmp_path / "interim", workers=2, progress=False)
    status = {r.source.split("/")[-1]: r.status for r in results}
    assert status == {"case_a": "decoded", "ZAPHOD_BEEBLEBROX": "decoded", "volume-0.nii.gz": "decoded", "broken": "failed"}
    failed = next(r for r in results if r.status == "failed")
    assert "CorruptDicomError" in failed.reason and "pixel data truncated" in failed.reason
    rows = read_cases(tmp_path / "interim" / "demo")
    assert len(rows) == 3 and {r["split"] for r in rows} <= {"train", "valid", "test"}
    labelled = [r for r in rows if r["layout"] in ("ircadb", "lits")]
    vol = asymmetric_volume()
    expected_liver_ml = np.count_nonzero(vol.label) * vol.voxel_ml
    for row in labelled:
        assert row["liver_ml"] == pytest.approx(expected_liver_ml, abs=0.01)
        assert row["n_lesions"] == 1
        cached = load_case(tmp_path / "interim" / "demo" / f"{row['case_id']}.npz")
        np.testing.assert_array_equal(cached.hu, vol.hu)
        np.testing.assert_array_equal(cached.label, vol.label)
    table = summary_table(results)
    assert "3 decoded, 0 skipped, 1 failed" in table and "pixel data truncated" in table


def test_unchanged_studies_are_skipped(cohort, tmp_path):
    interim = tmp_path / "interim"
    decode_cohort(cohort, "d", interim_root=interim, workers=1, progress=False)
    npz = sorted((interim / "d").glob("*.npz"))
    mtimes = [p.stat().st_mtime_ns for p in npz]
    again = decode_cohort(cohort, "d", interim_root=interim, workers=1, progress=False)
    assert sorted(r.status for r in again) == ["failed", "skipped", "skipped", "skipped"]
    assert [p.stat().st_mtime_ns for p in npz] == mtimes
    # Touching a study's file makes it stale again.
    next((cohort / "case_a" / "PATIENT_DICOM").iterdir()).touch()
    third = decode_cohort(cohort, "d", interim_root=interim, workers=1, progress=False)
    assert sorted(r.status for r in third) == ["decoded", "failed", "skipped", "skipped"]
    # A cache written before cases.csv had contrast_phase is decoded again, once, to fill it in.
    rows = read_cases(interim / "d")
    # The DICOM series say "PORTAL VENOUS 2.5MM"; a NIfTI file says nothing.
    assert sorted(r["contrast_phase"] for r in rows) == ["portal venous", "portal venous", "unknown"]
    write_cases(interim / "d", [{k: v for k, v in r.items() if k != "contrast_phase"} for r in rows])
    fourth = decode_cohort(cohort, "d", interim_root=interim, workers=1, progress=False)
    assert sorted(r.status for r in fourth) == ["decoded", "decoded", "failed", "skipped"]  # NIfTI: "unknown", kept
    assert all(r["contrast_phase"] for r in read_cases(interim / "d"))
    # A 3D-IRCADb case cached before the cysts were kept is decoded again, once, to read them.
    ircadb = next(r["case_id"] for r in read_cases(interim / "d") if r["layout"] == "ircadb")
    path = interim / "d" / f"{ircadb}.npz"
    with np.load(path) as data:
        old_cache = {k: data[k] for k in data.files if k != "cyst"}
    np.savez(path, **old_cache)
    fifth = decode_cohort(cohort, "d", interim_root=interim, workers=1, progress=False)
    assert {r.case_id: r.status for r in fifth if r.status != "failed"}[ircadb] == "decoded"
    assert sorted(r.status for r in fifth) == ["decoded", "failed", "skipped", "skipped"]
    assert "cyst" in np.load(path).files
    sixth = decode_cohort(cohort, "d", interim_root=interim, workers=1, progress=False)
    assert sorted(r.status for r in sixth) == ["failed", "skipped", "skipped", "skipped"]


def _written_text(folder) -> str:
    chunks = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        chunks.append(path.name)
        if path.suffix == ".npz":
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for name in z.namelist():
                    chunks.append(name)
                    chunks.append(z.read(name).decode("latin-1"))
        else:
            chunks.append(data.decode("latin-1"))
    return "\n".join(chunks)


def test_no_planted_phi_reaches_the_cache(cohort, tmp_path, capsys):
    interim = tmp_path / "interim"
    assert main(["decode", str(cohort), "--dataset", "phi", "--interim-root", str(interim), "--workers", "1"]) == 0
    text = _written_text(interim).upper()
    for key, value in {**PLANTED, **DEFAULT_IDENTITY}.items():
        if key in ("PatientSex", "StudyTime", "StudyID"):
            continue  # one-letter / short values would match random bytes
        assert value.upper() not in text, f"{key} leaked into the interim cache"
    for date in ("20230911", "2023-09-11", "19510317", "1951-03-17"):
        assert date not in text
    with (interim / "phi" / "cases.csv").open() as fh:
        assert set(next(csv.reader(fh))) == {"case_id", "layout", "shape", "spacing", "liver_ml", "tumor_ml", "n_lesions",
                                          "contrast_phase", "series_skipped", "files_dropped", "split"}
    out = capsys.readouterr().out
    assert "3 decoded" in out


def test_another_checkouts_salt_gives_other_ids_but_the_same_order_and_split(cohort, tmp_path, monkeypatch):
    # The split follows the sources' order, so a fresh clone (a new secret salt)
    # reproduces it; sorting by the salted ids would not.
    tables = []
    for salt in ("salt-of-one-checkout", "salt-of-another"):
        monkeypatch.setenv("LIVERLIB_SALT", salt)
        decode_cohort(cohort, "d", interim_root=tmp_path / salt, workers=1, progress=False)
        tables.append(read_cases(tmp_path / salt / "d"))
    one, two = tables
    assert {r["case_id"] for r in one}.isdisjoint(r["case_id"] for r in two)
    # cases.csv lists the studies by their relative paths: ZAPHOD_BEEBLEBROX (the unlabelled
    # DICOM series; capitals sort first), case_a, lits/volume-0.nii.gz.
    assert [r["layout"] for r in one] == ["dicom", "ircadb", "lits"]
    assert [(r["layout"], r["split"]) for r in one] == [(r["layout"], r["split"]) for r in two]


def test_an_unforeseen_fault_fails_its_study_only(cohort, tmp_path, monkeypatch):
    import liverlib.study

    real = liverlib.study.read_study

    def faulty(path, case_id=None):
        if str(path).endswith("case_a"):
            raise IndexError("list index out of range")  # a reader bug, not a StudyError
        return real(path, case_id)

    monkeypatch.setattr(liverlib.study, "read_study", faulty)
    results = decode_cohort(cohort, "demo", interim_root=tmp_path / "interim", workers=1, progress=False)
    status = {r.source.split("/")[-1]: r.status for r in results}
    assert status == {"case_a": "failed", "ZAPHOD_BEEBLEBROX": "decoded", "volume-0.nii.gz": "decoded", "broken": "failed"}
    failed = next(r for r in results if r.source.endswith("case_a"))
    assert failed.reason.startswith("IndexError: ") and "case_a" in failed.reason
    assert "unexpected error while decoding (list index out of range)" in failed.error
    assert len(read_cases(tmp_path / "interim" / "demo")) == 2


def test_log_lines_of_failures_carry_no_file_name_that_may_identify(tmp_path):
    vol = asymmetric_volume()
    paths = write_dicom_series(vol.hu, vol.spacing, tmp_path / "raw" / "s1", name_pattern="DOE_JANE_{}")
    import pydicom

    ds = pydicom.dcmread(paths[5])
    ds.ImagePositionPatient = pydicom.dcmread(paths[4]).ImagePositionPatient
    ds.save_as(paths[5])
    [result] = decode_cohort(tmp_path / "raw", "d", interim_root=tmp_path / "interim", workers=1, progress=False)
    assert result.status == "failed" and "as DOE_JANE_" in result.reason  # the user sees which files
    assert "DOE_JANE" not in result.error and "as <file>" in result.error  # logs do not


@pytest.mark.parametrize("workers", [1, 2])
def test_twins_of_equal_shape_keep_the_first_in_source_order_run_after_run(tmp_path, workers):
    vol = asymmetric_volume()
    write_dicom_series(vol.hu, vol.spacing, tmp_path / "raw" / "a", uid_seed="same")
    write_dicom_series(vol.hu + 50, vol.spacing, tmp_path / "raw" / "b", uid_seed="same")  # same UIDs, other pixels
    for _ in range(2):
        results = decode_cohort(tmp_path / "raw", "d", interim_root=tmp_path / "interim", workers=workers,
                                progress=False)
        [row] = read_cases(tmp_path / "interim" / "d")
        np.testing.assert_array_equal(load_case(tmp_path / "interim" / "d" / f"{row['case_id']}.npz").hu, vol.hu)
    assert sorted(r.status for r in results) == ["skipped", "skipped"]  # the second run: both as they are
    assert not list((tmp_path / "interim" / "d").glob(".*.npz"))  # no pending file left


@pytest.mark.parametrize("workers", [1, 2])
def test_two_studies_with_the_same_uids_keep_one_consistent_cache_entry(tmp_path, workers):
    vol = asymmetric_volume()
    # a partial copy of a series beside the full one: the same Study and Series UIDs
    write_dicom_series(vol.hu, vol.spacing, tmp_path / "raw" / "a_full", uid_seed="same")
    write_dicom_series(vol.hu[:7], vol.spacing, tmp_path / "raw" / "b_part", uid_seed="same")
    results = decode_cohort(tmp_path / "raw", "d", interim_root=tmp_path / "interim", workers=workers, progress=False)
    assert sorted(r.status for r in results) == ["decoded", "skipped"]
    [row] = read_cases(tmp_path / "interim" / "d")
    on_disk = load_case(tmp_path / "interim" / "d" / f"{row['case_id']}.npz")
    assert row["shape"] == "x".join(str(n) for n in on_disk.hu.shape)
    kept = next(r for r in results if r.status == "decoded")
    assert kept.row["shape"] == row["shape"]


def _die_on_b(path, layout, out_dir):
    import os

    if path.endswith("b"):
        os._exit(1)  # as the kernel's OOM killer ends a worker
    return decode_one(path, layout, out_dir)  # the real one, imported before the test patches it


def test_a_worker_that_dies_fails_studies_not_the_cohort(tmp_path, monkeypatch):
    import liverlib.decode

    vol = asymmetric_volume()
    names = ("a", "b", "c", "d", "e")
    for name in names:
        write_dicom_series(vol.hu, vol.spacing, tmp_path / "raw" / name, uid_seed=name)
    monkeypatch.setattr(liverlib.decode, "decode_one", _die_on_b)
    results = decode_cohort(tmp_path / "raw", "d", interim_root=tmp_path / "interim", workers=2, progress=False)
    status = {r.source.split("/")[-1]: r.status for r in results}
    # The pool broke with b; the studies it had not finished were decoded again, each alone.
    assert status == {"a": "decoded", "b": "failed", "c": "decoded", "d": "decoded", "e": "decoded"}
    died = next(r for r in results if r.status == "failed")
    assert died.reason.startswith("WorkerDied") and "decoded alone" in died.reason
    assert len(read_cases(tmp_path / "interim" / "d")) == 4


def test_a_cohort_too_small_for_every_split_is_warned_about(tmp_path, caplog):
    vol = asymmetric_volume()
    for name in ("a", "b"):
        write_dicom_series(vol.hu, vol.spacing, tmp_path / "raw" / name, uid_seed=name)
    with caplog.at_level("WARNING", logger="liverlib.decode"):
        decode_cohort(tmp_path / "raw", "d", interim_root=tmp_path / "interim", workers=1, progress=False)
    assert "the patient split of 2 studies left valid and test empty" in caplog.text
