"""The whole batch under the smoke profile: reports render offline, no PHI anywhere.

One smoke run (phantoms -> decode -> explore -> train -> evaluate) is made
per test session in a temporary folder and shared by these tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pydicom
import pytest
from browser import browser_page

pytestmark = pytest.mark.slow
def test_every_step_ran_and_reported(smoke_run):
    base, result = smoke_run
    run_dir = result.run_dir
    assert [s.status for s in result.steps] == ["ran"] * 4
    for step in result.steps:
        assert (run_dir / f"{step.name}.ipynb").exists() and (run_dir / f"{step.name}.html").exists()
        size_mb = (run_dir / f"{step.name}.html").stat().st_size / 2**20
        assert size_mb < 12, f"{step.name}.html is {size_mb:.1f} MB"
    for name in ("index.html", "run.log", "best_model.keras", "training_history.json", "metrics.json"):
        assert (run_dir / name).exists(), name
    assert (run_dir / "predictions").is_dir() and any((run_dir / "predictions").iterdir())
    log = (run_dir / "run.log").read_text()
    assert "decode" in log and "epoch 1/" in log  # one line per study and per epoch
    assert "it/s]" not in log  # no tqdm bars under papermill
    for name in ("03_train.html", "04_evaluate.html"):  # framework start-up noise stays out of reports
        text = (run_dir / name).read_text()
        assert "All log messages before absl" not in text and "cuda_platform.cc" not in text, name
    index = (run_dir / "index.html").read_text()
    assert "<td>fused 3D</td>" in index and "<td>all slices</td>" in index  # the model's slices vs the fused volume
    assert "read back on the same test slices" in index
    assert "Where the cancer AUC is lost" in (run_dir / "04_evaluate.html").read_text()  # the shortfall table drew


def _planted_identity(raw: Path) -> set[str]:
    values = set()
    for path in list(raw.rglob("PATIENT_DICOM/*"))[:400]:
        if not path.is_file():
            continue
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for key in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "AccessionNumber",
                    "StudyDate", "SeriesDate", "AcquisitionDate", "ReferringPhysicianName", "StudyDescription"):
            value = str(ds.get(key, "")).strip()
            if len(value) >= 6:
                values.add(value)
                if key == "PatientName":
                    values.update(part for part in value.split("^") if len(part) >= 5)
                if key.endswith("Date") and len(value) == 8:
                    values.add(f"{value[:4]}-{value[4:6]}-{value[6:]}")
    return values


def test_phi_audit_finds_no_planted_identity(smoke_run):
    base, result = smoke_run
    planted = _planted_identity(base / "data" / "raw")
    assert len(planted) >= 10, "the phantoms should carry a fake identity to audit"
    roots = [result.run_dir, base / "data" / "interim", base / "data" / "processed"]
    scanned = 0
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            scanned += 1
            text = path.read_bytes().decode("latin-1")
            for value in planted:
                # Whole words only: plotly.js holds "labelEnable", which is not Elena.
                assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", text, re.IGNORECASE), \
                    f"{value!r} leaked into {path}"
    assert scanned > 20


def test_no_local_path_reaches_the_run(smoke_run):
    # Where the project lives (a home folder, a hospital share's name) is nobody's business:
    # the run records paths relative to the project root.
    base, result = smoke_run
    where = str(base.resolve())
    found = [p for p in result.run_dir.rglob("*") if p.is_file() and p.suffix in (".html", ".ipynb", ".json", ".log")
             and where in p.read_bytes().decode("latin-1")]
    assert found == []
    summary = json.loads((result.run_dir / "decode_summary.json").read_text())
    assert summary["raw_dir"] == "data/raw/phantoms-smoke" and summary["interim_dir"] == "data/interim/phantoms-smoke"


def _figures_drawn(page, url: str) -> dict:
    page.goto(url)
    page.wait_for_timeout(500)
    page.wait_for_function("document.querySelectorAll('.plotly-graph-div').length > 0", timeout=20000)
    return page.evaluate(
        """() => {
        const divs = [...document.querySelectorAll('.plotly-graph-div')];
        return {
          divs: divs.length,
          drawn: divs.filter(d => d.querySelector('svg.main-svg') && d._fullData && d._fullData.length > 0).length,
          marks: divs.map(d => d.querySelectorAll('.trace, .point, .bars path, .heatmaplayer image, .layer-above image, image, .table .cell-text').length),
          imgs: [...document.querySelectorAll('img')].filter(i => i.src.startsWith('data:') && i.naturalWidth > 0).length,
        };
    }"""
    )


def test_reports_render_in_chromium_offline(smoke_run):
    _, result = smoke_run
    run_dir = result.run_dir
    with browser_page(offline=True) as page:
        index = _figures_drawn(page, (run_dir / "index.html").as_uri())
        assert index["divs"] >= 1 and index["drawn"] == index["divs"]
        report = _figures_drawn(page, (run_dir / "02_explore.html").as_uri())
        assert report["divs"] >= 3 and report["drawn"] == report["divs"]
        assert min(report["marks"]) > 0, "a figure drew no marks"
        assert page.blocked_requests == [], f"reports asked the network for {page.blocked_requests[:3]}"
        assert page.js_errors == []


def test_metrics_json_has_headline(smoke_run):
    _, result = smoke_run
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    headline = metrics["headline"]
    groups = [row["group"] for row in metrics["cancer_shortfall"]]  # 04's "where the AUC is lost" table
    assert len(groups) == 7 and groups[-1] == "all (1 - AUC)"
    by_contrast = metrics["cancer_by_contrast"]  # 04's table by the tumor's contrast to the liver
    assert sum(row["slices"] for row in by_contrast) == sum(row["slices"] for row in metrics["cancer_by_size"])
    assert {"axial", "coronal", "sagittal", "all views", "fused"} <= set(headline)
    for vals in headline.values():
        assert 0.0 <= vals["liver_dice"] <= 1.0
