"""Notebooks 01_decode and 02_explore under papermill (smoke size), and the
cohort pipeline they call."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from liverlib import cohort_pipeline as cp
from liverlib.decode import DecodeResult
from liverlib.slice_dataset import SPLITS, VIEWS, load_split, read_manifest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SMOKE_01 = {"n_cases": 3, "image_size": 32, "workers": 2, "seed": 0, "slice_stride": 5}
SMOKE_02 = {"image_size": 32, "n_montage_cases": 2, "slider_steps": 4}
PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"


# -- the notebooks as files -----------------------------------------------------
@pytest.mark.parametrize("name", ["01_decode", "02_explore"])
def test_notebook_is_commit_ready(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[1]  # right after the imports cell
    for line in tagged[0].source.splitlines():
        assert ": " in line.split("=")[0] and "  # " in line, f"untyped or uncommented parameter: {line}"
    for cell in code:
        assert "def " not in cell.source and "class " not in cell.source


def test_declared_parameters():
    import papermill

    p01 = papermill.inspect_notebook(str(NOTEBOOKS / "01_decode.ipynb"))
    p02 = papermill.inspect_notebook(str(NOTEBOOKS / "02_explore.ipynb"))
    assert {"source", "dataset", "n_cases", "seed", "image_size", "spacing_mm", "windows", "split_fractions",
            "workers", "run_dir", "data_root"} <= set(p01)
    assert {"dataset", "image_size", "data_root", "n_montage_cases", "run_dir"} <= set(p02)
    assert p01["source"]["default"] == '"phantom"' and p01["workers"]["default"] == "0"


# -- cohort pipeline units --------------------------------------------------------
def test_count_rows_adds_up():
    counts = {s: {"n": 10, "cases": 1, "cancer": 4, **{v: {"n": n, "cancer": c} for v, n, c in
                                                         zip(VIEWS, (3, 3, 4), (1, 1, 2))}} for s in SPLITS}
    rows = cp.count_rows({"counts": counts})
    assert len(rows) == 12
    everything = [r for r in rows if r["view"] == "all"]
    assert [r["slices"] for r in everything] == [10, 10, 10]
    assert all(r["cancer"] + r["no_cancer"] == r["slices"] for r in rows)


def test_ensure_phantoms_skips_same_cohort(tmp_path, monkeypatch):
    from liverlib.phantom import cohort
    from liverlib.phantom.generator import PHANTOM_VERSION

    calls = []
    version = [PHANTOM_VERSION]

    def fake_writer(out_dir, n, seed, *, matrix=256, workers=1):
        calls.append((n, seed))
        for i in range(n):
            case = Path(out_dir) / f"phantom-{i:03d}"
            (case / "PATIENT_DICOM").mkdir(parents=True)
            info = {"seed": cohort.case_seed(seed, i), "matrix": matrix, "version": version[0]}
            (case / "phantom.json").write_text(json.dumps(info))

    monkeypatch.setattr(cohort, "write_phantom_cohort", fake_writer)
    (tmp_path / "notes.txt").write_text("kept")
    assert cp.ensure_phantoms(tmp_path, 3, 0) is True
    assert cp.ensure_phantoms(tmp_path, 3, 0) is False
    assert cp.ensure_phantoms(tmp_path, 2, 0) is True  # fewer cases: rewritten, extras gone
    assert sorted(p.name for p in tmp_path.glob("phantom-*")) == ["phantom-000", "phantom-001"]
    assert cp.ensure_phantoms(tmp_path, 2, 1) is True  # another seed
    version[0] = PHANTOM_VERSION - 1  # a cohort of an older generator on disk...
    assert cp.ensure_phantoms(tmp_path, 2, 2) is True
    version[0] = PHANTOM_VERSION
    assert cp.ensure_phantoms(tmp_path, 2, 2) is True  # ...is written again
    assert cp.ensure_phantoms(tmp_path, 2, 2) is False
    assert calls == [(3, 0), (2, 0), (2, 1), (2, 2), (2, 2)]
    assert (tmp_path / "notes.txt").read_text() == "kept"


def test_decode_failures_hide_study_names(tmp_path):
    source = tmp_path / "raw"
    bad = source / "DOE_JANE_1961"
    results = [
        DecodeResult(str(source / "A_case"), "decoded", "ircadb-1"),
        DecodeResult(str(bad), "failed", reason=f"CorruptDicomError: {bad}/IM0007: pixel data truncated"),
    ]
    rows = cp.decode_failures(results, source)
    assert rows == [{"stage": "decode", "study": "study 2/2", "case_id": "",
                     "reason": "CorruptDicomError: study 2/2/IM0007: pixel data truncated"}]
    named = cp.decode_failures(results, source, show_study_names=True)
    assert named[0]["study"] == "DOE_JANE_1961" and "DOE_JANE_1961/IM0007" in named[0]["reason"]
    assert str(tmp_path) not in named[0]["reason"]


def test_is_image_folder(tmp_path):
    assert not cp.is_image_folder(tmp_path)
    (tmp_path / "train" / "images").mkdir(parents=True)
    (tmp_path / "train" / "labels.csv").write_text("image,cancer\n")
    assert cp.is_image_folder(tmp_path)


# -- the notebooks under papermill ----------------------------------------------
def execute(name: str, out: Path, parameters: dict) -> nbformat.NotebookNode:
    import papermill

    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=parameters,
                               kernel_name="python3", cwd=str(ROOT), progress_bar=False)
    return nbformat.read(out, as_version=4)


def outputs(nb, mime: str) -> list:
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if mime in output.get("data", {}):
                data = output["data"][mime]
                found.append(json.loads(data) if isinstance(data, str) else data)
    return found


@pytest.fixture(scope="module")
def notebook_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("notebooks")
    paths = {"data_root": str(tmp / "data"), "run_dir": str(tmp / "run")}
    nb01 = execute("01_decode", tmp / "01_decode.ipynb", {**SMOKE_01, **paths})
    nb02 = execute("02_explore", tmp / "02_explore.ipynb", {**SMOKE_02, **paths})
    return {"tmp": tmp, "nb01": nb01, "nb02": nb02, **paths}


@pytest.mark.slow
def test_01_decode_builds_the_dataset(notebook_run):
    data = Path(notebook_run["data_root"])
    assert sorted(p.name for p in (data / "raw" / "phantoms").glob("phantom-*")) == [
        "phantom-000", "phantom-001", "phantom-002"]
    processed = data / "processed" / "phantoms" / "32"
    manifest = read_manifest(processed)
    assert manifest["image_size"] == 32 and manifest["channels"] == 4  # 2 windows + a neighbour slice each side (2.5D)
    summary = json.loads((Path(notebook_run["run_dir"]) / "decode_summary.json").read_text())
    assert summary["decode_status"] == {"decoded": 3, "skipped": 0, "failed": 0}
    assert summary["failures"] == []
    assert sorted(c["split"] for c in summary["cases"]) == sorted(SPLITS)  # one patient per split
    for split in SPLITS:
        arrays = load_split(processed, split)
        counts = manifest["counts"][split]
        assert len(arrays) == counts["n"] > 0
        assert arrays.images.shape[1:] == (32, 32, 4)
        assert int(np.asarray(arrays.cancer).sum()) == counts["cancer"]
        assert set(np.unique(np.asarray(arrays.case_id))) == {c["case_id"] for c in summary["cases"]
                                                                if c["split"] == split}
        rows = [r for r in summary["counts"] if r["split"] == split]
        assert {r["view"]: r["slices"] for r in rows} == {**{v: counts[v]["n"] for v in VIEWS}, "all": counts["n"]}
    tables = outputs(notebook_run["nb01"], PLOTLY)
    assert len(tables) == 3  # cohort, failures, counts
    cohort_cells = tables[0]["data"][0]["cells"]["values"]
    assert sorted(cohort_cells[0]) == sorted(c["case_id"] for c in summary["cases"])


@pytest.mark.slow
def test_01_shows_and_writes_no_patient_identity(notebook_run):
    import pydicom

    raw = Path(notebook_run["data_root"]) / "raw" / "phantoms"
    executed = json.dumps(notebook_run["nb01"]) + json.dumps(notebook_run["nb02"])
    summary = (Path(notebook_run["run_dir"]) / "decode_summary.json").read_text()
    cases_csv = (Path(notebook_run["data_root"]) / "interim" / "phantoms" / "cases.csv").read_text()
    for case in sorted(raw.glob("phantom-*")):
        header = pydicom.dcmread(next((case / "PATIENT_DICOM").iterdir()), stop_before_pixels=True)
        for secret in (str(header.PatientName), str(header.PatientID)):
            assert secret and secret not in executed and secret not in summary and secret not in cases_csv


@pytest.mark.slow
def test_01_rerun_is_skipped(notebook_run):
    summary = cp.prepare_cohort("phantom", "phantoms", data_root=notebook_run["data_root"], n_cases=3, seed=0,
                                image_size=32, workers=1, slice_stride=SMOKE_01["slice_stride"])
    assert summary.phantoms_written is False
    assert summary.decode_status == {"decoded": 0, "skipped": 3, "failed": 0}
    assert summary.manifest["skipped_build"] is True


@pytest.mark.slow
def test_02_explore_renders_every_figure(notebook_run):
    nb = notebook_run["nb02"]
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    figures = outputs(nb, PLOTLY)
    assert len(figures) == 5 + 3  # histogram, balance, volumes, phases, montage + one slider per view
    hist, balance, volumes, phases, montage, *sliders = figures
    header = phases["data"][0]["header"]["values"]  # every smoke phantom's series names its phase
    assert header[:2] == ["split", "studies"] and "unknown" not in header and len(header) >= 3
    assert {t["name"] for t in hist["data"]} == {"body", "liver", "tumor"}
    assert len([t for t in montage["data"] if t["type"] == "image"]) == 2 * 3
    for fig, view in zip(sliders, VIEWS):
        steps = fig["layout"]["sliders"][0]["steps"]
        assert 1 <= len(steps) <= SMOKE_02["slider_steps"]
        assert fig["layout"]["sliders"][0]["currentvalue"]["prefix"].startswith(view)
    assert len(outputs(nb, WIDGET)) == 1  # the viewer
    assert Path(notebook_run["tmp"], "02_explore.ipynb").stat().st_size < 3_000_000


@pytest.mark.slow
def test_02_report_is_self_contained(notebook_run):
    from liverlib.report import export_html

    html = export_html(notebook_run["tmp"] / "02_explore.ipynb", notebook_run["tmp"] / "02_explore.html").read_text()
    assert html.count('class="plotly-graph-div"') == 8  # the figures of test_02_explore_renders_every_figure
    assert "<script src=" not in html  # plotly.js inline, nothing fetched
    assert len(html) < 10_000_000


def test_decode_failures_hide_file_names_that_may_identify_the_patient(tmp_path):
    source = tmp_path / "raw"
    study = source / "case_7"
    study.mkdir(parents=True)
    for name in ("SMITH_ANNA_003.dcm", "SMITH_ANNA_004.dcm", "IM0007"):
        (study / name).write_bytes(b"x")
    lits = source / "DOE_JOHN_1950"
    lits.mkdir()
    (lits / "volume-1.nii").write_bytes(b"x")
    (lits / "segmentation-1.nii").write_bytes(b"x")
    results = [
        DecodeResult(str(study), "failed", reason=f"DuplicateSliceError: {study}/SMITH_ANNA_004.dcm: same slice "
                     "position (12.00 mm) as SMITH_ANNA_003.dcm; IM0007 fine"),
        DecodeResult(str(lits / "volume-1.nii"), "failed",
                     reason=f"GeometryMismatchError: {lits}/segmentation-1.nii: shape differs from {lits}/volume-1.nii"),
    ]
    rows = cp.decode_failures(results, source)
    text = " ".join(r["reason"] for r in rows)
    assert "SMITH" not in text and "DOE_JOHN" not in text and str(tmp_path) not in text
    assert rows[1]["reason"] == ("DuplicateSliceError: study 2/2/<file>: same slice position (12.00 mm) as <file>; "
                                 "IM0007 fine")
    assert "<source>/<file>/segmentation-1.nii" in rows[0]["reason"]  # the layout's own names stay: they say which file
    named = cp.decode_failures(results, source, show_study_names=True)
    assert "SMITH_ANNA_004.dcm" in named[1]["reason"]


def test_numbered_file_names_stay_and_other_tasks_names_go(tmp_path):
    from liverlib.deid import scrub_file_names

    study = tmp_path / "s"
    study.mkdir()
    for name in ("17", "18", "smith_001.nii.gz", "liver_3.nii.gz"):
        (study / name).write_bytes(b"x")
    text = "SliceGapError: slice gap of 2.00 mm after 17 (1 slice(s) missing?); smith_001.nii.gz; liver_3.nii.gz"
    assert scrub_file_names(text, study) == ("SliceGapError: slice gap of 2.00 mm after 17 (1 slice(s) missing?); "
                                             "<file>; liver_3.nii.gz")
