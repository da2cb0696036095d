"""Evaluation of a run, and the 04_evaluate notebook under papermill, on tiny inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from liverlib.interim import save_case, write_cases
from liverlib.render import REFERENCE_RGB
from liverlib.slice_dataset import VIEWS, SliceSplit, save_split, write_manifest
from liverlib.views import DEFAULT_WINDOWS
from liverlib.volume import Volume

SIZE = 32
ROOT = Path(__file__).resolve().parents[1]


def tiny_volume(case_id: str, seed: int) -> Volume:
    rng = np.random.default_rng(seed)
    shape = (20, 28, 26)
    _, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    hu = np.full(shape, -1000, np.int16)
    hu[((y - 14) / 13) ** 2 + ((x - 13) / 12) ** 2 < 1] = -80
    label = np.zeros(shape, np.uint8)
    label[4:14, 6:18, 3:12] = 1
    label[7:10, 9:12, 5:8] = 2
    hu[label == 1] = 130
    hu[label == 2] = 40
    hu = (hu + rng.normal(0, 5, shape)).astype(np.int16)
    return Volume(hu=hu, spacing=(2.5, 2.0, 2.0), case_id=case_id, label=label)


def tiny_split(n: int, seed: int, case_ids) -> SliceSplit:
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, SIZE, SIZE), np.uint8)
    masks[:, 8:20, 6:18] = 1
    masks[::2, 12:15, 10:13] = 2
    images = np.clip(rng.normal(0.3, 0.1, (n, SIZE, SIZE, 2)) + (masks[..., None] == 1) * 0.4, 0, 1)
    return SliceSplit(
        images=images.astype(np.float16), masks=masks,
        cancer=(masks.reshape(n, -1) == 2).any(1).astype(np.uint8),
        view=(np.arange(n) % 3).astype(np.uint8),
        case_id=np.asarray([case_ids[(i // 2) % len(case_ids)] for i in range(n)]),  # each case: slices with and without tumor
        slice_index=np.arange(n, dtype=np.int32),
    )


def cut_split(volumes: list[Volume], crop: str = "body") -> SliceSplit:
    """Test slices cut from the studies' own cubes (the body cube or the box around the reference
    liver), as build_dataset does: per study and view one slice through the tumor, one through
    liver only, one outside the liver."""
    from liverlib.cube import AIR_HU, to_cube
    from liverlib.liver_box import dataset_grid
    from liverlib.views import VIEWS, apply_windows, view_slices

    images, masks, view_codes, case_ids, index = [], [], [], [], []
    for volume in volumes:
        grid = dataset_grid(volume, 2.0, SIZE, crop, margin_mm=4.0)
        cube_hu = to_cube(volume.hu, grid, order=1, fill=AIR_HU)
        cube_label = to_cube(volume.label, grid, order=0, fill=0, dtype=np.uint8)
        for code, view in enumerate(VIEWS):
            labels = view_slices(cube_label, view)
            tumor = np.nonzero((labels == 2).any(axis=(1, 2)))[0]
            liver = np.nonzero((labels == 1).any(axis=(1, 2)) & ~(labels == 2).any(axis=(1, 2)))[0]
            empty = np.nonzero(~(labels > 0).any(axis=(1, 2)))[0]
            for k in (tumor[len(tumor) // 2], liver[0], empty[len(empty) // 2]):
                images.append(apply_windows(view_slices(cube_hu, view)[k]))
                masks.append(labels[k])
                view_codes.append(code)
                case_ids.append(volume.case_id)
                index.append(k)
    masks = np.asarray(masks, np.uint8)
    return SliceSplit(
        images=np.asarray(images, np.float16), masks=masks, cancer=(masks == 2).any(axis=(1, 2)).astype(np.uint8),
        view=np.asarray(view_codes, np.uint8), case_id=np.asarray(case_ids), slice_index=np.asarray(index, np.int32),
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Slice dataset + interim cache + random-weight model + history, all tiny."""
    import keras

    from liverlib.model import build_unet

    tmp = tmp_path_factory.mktemp("evalrun")
    # The layout the notebooks expect: <data_root>/processed/<dataset>/<size>, <data_root>/interim/<dataset>.
    dataset, interim, run = tmp / "data" / "processed" / "tiny" / str(SIZE), tmp / "data" / "interim" / "tiny", tmp / "run"
    for i, split in enumerate(("train", "valid")):
        save_split(dataset, split, tiny_split(6, i, [f"{split}-a", f"{split}-b"]))
    save_split(dataset, "test", cut_split([tiny_volume("test-a", 0), tiny_volume("test-b", 1)]))
    write_manifest(dataset, {"image_size": SIZE, "spacing_mm": 2.0, "windows": [list(w) for w in DEFAULT_WINDOWS],
                             "channels": 2})
    rows = []
    for n, case in enumerate(("test-a", "test-b", "train-a")):
        save_case(interim, tiny_volume(case, n))
        rows.append({"case_id": case, "layout": "ircadb", "split": case.split("-")[0],
                     "contrast_phase": ("portal venous", "unenhanced", "portal venous")[n]})
    write_cases(interim, rows)
    keras.utils.set_random_seed(0)
    run.mkdir()
    build_unet(SIZE, 2, depth=2, base_filters=4).save(run / "best_model.keras")
    history = {"loss": [1.2, 0.9], "val_loss": [1.3, 1.0], "liver_dice": [0.2, 0.4], "val_liver_dice": [0.1, 0.3],
               "lr": [1e-3, 5e-4]}
    (run / "training_history.json").write_text(json.dumps({"config": {}, "history": history}))
    return {"dataset": dataset, "interim": interim, "run": run, "data_root": tmp / "data"}


def _check_outputs(run: Path, n_slices: int, n_cases: int) -> dict:
    record = json.loads((run / "metrics.json").read_text())
    assert record["split"] == "test" and record["slice"]["overall"]["n_images"] == n_slices
    for group in ("overall", "axial", "coronal", "sagittal"):
        m = record["slice"][group]
        assert 0.0 <= m["pixel_accuracy"] <= 1.0 and 0.0 <= m["liver_dice"] <= 1.0
        assert m["cancer"]["confusion"][0][0] + m["cancer"]["confusion"][0][1] + m["cancer"]["confusion"][1][0] \
            + m["cancer"]["confusion"][1][1] == m["n_images"]
    assert [c["case_id"] for c in record["cases"]] == ["test-a", "test-b"][:n_cases]
    assert record["failures"] == []  # the test slices match their studies' cubes
    headline = record["headline"]
    assert headline["axial"]["liver_dice"] == record["slice"]["axial"]["liver_dice"]
    assert headline["all views"]["cancer_auc"] == record["slice"]["overall"]["cancer"]["auc"]
    if n_cases:
        assert headline["fused"]["liver_dice"] == record["slice_fused"]["overall"]["liver_dice"]
        # The interval resamples the studies scored in 3D: null with fewer than two holding each class.
        fused_cancer = record["slice_fused"]["overall"]["cancer"]
        assert headline["fused"]["cancer_auc_ci95"] == fused_cancer["auc_ci95"]
        _check_interval(fused_cancer["auc_ci95"], fused_cancer["auc"])
        assert headline["fused"]["cancer_auc_gain_over_head"] == fused_cancer["auc_gain_over_head"]
    for name in ("all views", "axial", "coronal", "sagittal"):  # every group of slices has its interval
        _check_interval(headline[name]["cancer_auc_ci95"], headline[name]["cancer_auc"])
    for case in record["cases"]:
        assert set(case["metrics"]["dice"]) == {"axial", "coronal", "sagittal", "fused"}
    slices = run / "predictions" / "slices"
    pred = np.load(slices / "pred_mask.npy", allow_pickle=False)
    assert pred.shape == (n_slices, SIZE, SIZE) and pred.max() <= 2
    assert np.load(slices / "cancer_prob.npy").shape == (n_slices,)
    for case in record["cases"]:
        assert (run / "predictions" / "cases" / case["case_id"] / "mask.nii.gz").exists()
    assert not (run / "predictions.tmp").exists() and not (run / "metrics.json.tmp").exists()
    return record


def _check_interval(ci, auc):
    """A 95 % interval: two numbers holding the AUC, or null (too few patients of each class)."""
    assert len(ci) == 2
    if ci[0] is not None:
        assert ci[0] <= auc <= ci[1]
    else:
        assert ci[1] is None


def test_evaluate_run_writes_metrics(tiny_run):
    from liverlib.evaluate import evaluate_run

    result = evaluate_run(tiny_run["run"], tiny_run["dataset"], tiny_run["interim"], max_cases=1, progress=False)
    record = _check_outputs(tiny_run["run"], 18, 1)
    assert record["cases_summary"]["n_cases"] == 1
    rows = result.table()
    assert [r["group"] for r in rows] == ["all slices", "axial", "coronal", "sagittal", "fused 3D"]
    # The fused score of a slice is its study's fused volume read in the slice's view and index;
    # slices of a study not predicted in 3D (test-b) stay NaN and out of the AUC.
    from liverlib.interim import load_case
    from liverlib.predict import PredictParams, load_model, predict_volume

    fused = np.load(tiny_run["run"] / "predictions" / "slices" / "cancer_fused.npy")
    case_ids = np.asarray(result.data.case_id, dtype=str)
    assert np.isnan(fused[case_ids == "test-b"]).all() and not np.isnan(fused[case_ids == "test-a"]).any()
    pred = predict_volume(load_case(tiny_run["interim"] / "test-a.npz"), load_model(tiny_run["run"] / "best_model.keras"),
                          PredictParams(image_size=SIZE, spacing_mm=2.0), with_metrics=False)
    from liverlib.predict import fused_slice_scores, reach_slices, tumor_consensus

    scores = fused_slice_scores(tumor_consensus(pred.cube_probs), reach=reach_slices(pred.grid.cube_spacing_mm),
                                background=pred.fused_cube[..., 0])
    from liverlib.views import view_slices

    fused_mask = np.load(tiny_run["run"] / "predictions" / "slices" / "fused_mask.npy")
    for i in np.nonzero(case_ids == "test-a")[0]:
        view, k = ("axial", "coronal", "sagittal")[result.data.view[i]], result.data.slice_index[i]
        assert fused[i] == pytest.approx(scores[view][k], rel=1e-5)
        np.testing.assert_array_equal(fused_mask[i], np.argmax(view_slices(pred.fused_cube, view)[k], axis=-1))
    # Scored like the model's own slices, on the covered slices only.
    from liverlib.metrics import slice_metrics

    a = case_ids == "test-a"
    expected = slice_metrics(np.asarray(result.data.masks)[a], fused_mask[a], result.data.cancer[a], fused[a],
                             result.data.view[a])
    got = record["slice_fused"]["overall"]
    expected_head_auc = slice_metrics(np.asarray(result.data.masks)[a], result.slices.pred_mask[a], result.data.cancer[a],
                                      result.slices.cancer_prob[a], result.data.view[a])["overall"]["cancer"]["auc"]
    assert got["n_images"] == int(a.sum()) and got["liver_dice"] == pytest.approx(expected["overall"]["liver_dice"])
    assert 0.0 <= got["cancer"]["auc"] <= 1.0  # test-a has slices with and without tumor
    assert got["cancer"]["auc"] == pytest.approx(expected["overall"]["cancer"]["auc"])
    assert record["headline"]["fused"] == {"liver_dice": got["liver_dice"], "tumor_dice": got["tumor_dice"],
                                           "cancer_auc": got["cancer"]["auc"], "pixel_accuracy": got["pixel_accuracy"],
                                           "n_slices": int(a.sum()), "tumor_threshold": 0.5,
                                           "tumor_threshold_source": "argmax",
                                           "cancer_auc_ci95": [None, None],  # one study: no interval
                                           "cancer_auc_gain_over_head": pytest.approx(
                                               got["cancer"]["auc"] - expected_head_auc),
                                           "cancer_auc_gain_over_head_ci95": [None, None]}
    from liverlib.report import fused_note

    note = fused_note(record["headline"])
    assert f"{int(a.sum())} of the 18 test slices" in note  # test-b was not predicted in 3D
    assert "Its label is the argmax." in note
    calibrated = fused_note({"fused": {**record["headline"]["fused"], "tumor_threshold": 0.4,
                                       "tumor_threshold_source": "chosen on 8 valid studies"}})
    assert "plus tumor wherever the tumor probability reaches 0.4 inside the liver; that threshold was chosen on 8 valid" in calibrated
    assert fused_note({"fused": {"liver_dice": 0.9}}) == ""  # an older metrics.json: no note
    sizes = record["cancer_by_size"]
    assert sum(r["slices"] for r in sizes) == int(np.asarray(result.data.cancer).sum())
    assert {"cancer head AUC", "fused 3D AUC"} <= set(sizes[0])
    contrast = record["cancer_by_contrast"]  # the same slices with tumor, by contrast to the liver beside them
    assert sum(r["slices"] for r in contrast) == int(np.asarray(result.data.cancer).sum())
    assert [r["tumor minus liver beside it"] for r in contrast][-3:] == ["too small to measure", "no liver beside it",
                                                                         "outside the window"]
    phases = {r["contrast phase"]: r for r in record["by_contrast_phase"]}  # cases.csv's phase of each study
    assert list(phases) == ["portal venous", "unenhanced"]
    assert [phases[p]["slices"] for p in phases] == [int((np.asarray(result.data.case_id) == c).sum())
                                                      for c in ("test-a", "test-b")]
    shortfall = {r["group"]: r for r in record["cancer_shortfall"]}  # 1 - AUC split into groups
    head_auc = record["slice"]["overall"]["cancer"]["auc"]
    assert shortfall["all (1 - AUC)"]["cancer head share of 1-AUC"] == pytest.approx(1 - head_auc)
    assert sum(r["cancer head share of 1-AUC"] for g, r in shortfall.items() if g.startswith("tumor,")) == pytest.approx(1 - head_auc)
    assert sum(r["slices"] for g, r in shortfall.items() if g != "all (1 - AUC)") == len(result.data)
    assert len(result.worst_slices(3)) == 3
    case = result.viewer["test-a"]
    assert case["hu"].shape == (SIZE,) * 3 and case["probs"].shape == (SIZE,) * 3 + (3,)
    # A perfect prediction scores 1: the metrics are wired to the right arrays.
    from liverlib.metrics import slice_metrics

    perfect = slice_metrics(result.data.masks, np.asarray(result.data.masks), result.data.cancer,
                            result.data.cancer.astype(float), result.data.view)
    assert perfect["overall"]["tumor_dice"] == 1.0 and perfect["overall"]["cancer"]["auc"] == 1.0


def test_fused_result_not_scored_on_slices_of_another_cube(tiny_run, tmp_path):
    """A slice dataset that no longer matches the interim cache (here: one mask changed) must not be
    scored against the fused result: the study is reported, its slices stay unscored."""
    import shutil

    from liverlib.evaluate import evaluate_run

    dataset = tmp_path / "dataset"
    shutil.copytree(tiny_run["dataset"], dataset)
    masks = np.load(dataset / "test" / "masks.npy")
    masks[0] = 0  # the first slice of test-a passes through its tumor
    np.save(dataset / "test" / "masks.npy", masks)
    result = evaluate_run(tiny_run["run"], dataset, tiny_run["interim"], max_cases=2, write=False, progress=False)
    assert [f["case_id"] for f in result.metrics["failures"]] == ["test-a"]
    assert "does not match the slice dataset in 1 of 9 slices" in result.metrics["failures"][0]["reason"]
    case_ids = np.asarray(result.data.case_id, dtype=str)
    assert np.isnan(result.slices.cancer_fused[case_ids == "test-a"]).all()
    assert not np.isnan(result.slices.cancer_fused[case_ids == "test-b"]).any()
    assert result.metrics["slice_fused"]["overall"]["n_images"] == 9


def test_model_of_another_run_is_evaluated_without_touching_that_run(tiny_run, tmp_path):
    """04's model_dir: a trained run's model scored on another cohort; metrics go to this run, the model's
    run keeps its own; its training curves are read beside the model; its own patients are refused."""
    import shutil

    from liverlib.errors import DatasetError
    from liverlib.evaluate import evaluate_run

    trained = tmp_path / "trained"
    trained.mkdir()
    for name in ("best_model.keras", "training_history.json"):
        shutil.copy(tiny_run["run"] / name, trained / name)
    (trained / "metrics.json").write_text('{"split": "test", "own": true}')
    heldout = tmp_path / "heldout"
    result = evaluate_run(heldout, tiny_run["dataset"], tiny_run["interim"], model_path=trained / "best_model.keras",
                          max_cases=2, progress=False)
    assert json.loads((trained / "metrics.json").read_text()) == {"split": "test", "own": True}
    written = json.loads((heldout / "metrics.json").read_text())
    assert written["model"] == "best_model.keras" and len(written["cases"]) == 2
    assert result.history["loss"] == [1.2, 0.9]  # the curves of the run that trained the model
    assert not (trained / "predictions").exists() and (heldout / "predictions" / "cases" / "test-a").is_dir()
    from liverlib.report import model_source

    assert str(trained) in model_source(heldout) and model_source(trained) == ""  # the index page says whose model
    # A model whose preprocessing.json lists test-b among its training patients is not scored on it.
    prep = {"image_size": SIZE, "spacing_mm": 2.0, "windows": [list(w) for w in DEFAULT_WINDOWS], "train_cases": ["test-b", "x"]}
    (trained / "preprocessing.json").write_text(json.dumps(prep))
    with pytest.raises(DatasetError, match=r"test: 1 of its studies trained the model .*test-b"):
        evaluate_run(heldout, tiny_run["dataset"], tiny_run["interim"], model_path=trained / "best_model.keras",
                     max_cases=2, write=False, progress=False)


def test_liver_box_dataset_is_read_back_in_the_reference_box(tiny_run, tmp_path):
    """Test slices cut from the box around each reference liver: the fused result (predicted in
    whatever box the first pass found) is resampled into that box and scored on every slice."""
    import shutil

    from liverlib.evaluate import evaluate_run

    dataset, run = tmp_path / "dataset", tmp_path / "run"
    shutil.copytree(tiny_run["dataset"], dataset)
    shutil.copytree(tiny_run["run"], run)
    save_split(dataset, "test", cut_split([tiny_volume("test-a", 0), tiny_volume("test-b", 1)], crop="liver"))
    manifest = {"image_size": SIZE, "spacing_mm": 2.0, "windows": [list(w) for w in DEFAULT_WINDOWS], "channels": 2,
                "crop": "liver", "liver_margin_mm": 4.0}
    write_manifest(dataset, manifest)
    (run / "preprocessing.json").write_text(json.dumps(manifest))
    result = evaluate_run(run, dataset, tiny_run["interim"], max_cases=2, write=False, progress=False)
    assert result.metrics["failures"] == []  # every slice's reference matched the study read in its box
    assert result.metrics["slice_fused"]["overall"]["n_images"] == len(result.data)
    assert result.metrics["dataset"]["crop"] == "liver"
    assert all(case["preprocessing"]["crop"] == "liver" for case in result.cases)
    # A model trained on whole-body slices is not scored on liver boxes.
    (run / "preprocessing.json").write_text(json.dumps({**manifest, "crop": "body"}))
    with pytest.raises(ValueError, match="crop='body'.*crop='liver'"):
        evaluate_run(run, dataset, tiny_run["interim"], max_cases=1, write=False, progress=False)
    # Nor is a model trained on unblurred cubes (no antialias: before it existed) scored on anti-aliased ones.
    (run / "preprocessing.json").write_text(json.dumps(manifest))
    write_manifest(dataset, {**manifest, "antialias": True})
    with pytest.raises(ValueError, match="antialias=False.*antialias=True"):
        evaluate_run(run, dataset, tiny_run["interim"], max_cases=1, write=False, progress=False)


def test_figures_and_viewers(tiny_run):
    import plotly.graph_objects as go

    from liverlib import figures_eval, viewer_eval
    from liverlib.evaluate import evaluate_run

    result = evaluate_run(tiny_run["run"], tiny_run["dataset"], tiny_run["interim"], max_cases=1, write=False,
                          progress=False)
    sm = result.metrics["slice"]
    figs = [
        figures_eval.roc_figure(sm), figures_eval.pr_figure(sm), figures_eval.confusion_figure(sm["overall"]["cancer"]),
        figures_eval.iou_distribution_figure(result.per_image_iou, result.data.view),
        figures_eval.confidence_figure(result.slices.cancer_prob, result.data.cancer),
        figures_eval.score_scatter_figure(result.slices.cancer_prob, result.per_image_iou["tumor"], result.data.cancer),
        figures_eval.case_dice_figure(result.cases), figures_eval.table_figure(result.table()),
        figures_eval.worst_cases_gallery(result.data.images, result.data.masks, result.slices.pred_mask, [0, 1]),
    ]
    assert all(isinstance(f, go.Figure) and f.data for f in figs)
    assert len(figs[0].data) == 5  # overall + 3 views + chance line
    assert [t.name for t in figs[6].data][-2:] == ["cancer score (head)", "cancer score (fused volume)"]
    assert [t.type for t in figures_eval.case_dice_figure(result.cases, "liver").data] == ["bar"] * 4  # no scores
    with_fused = figures_eval.roc_figure(sm, result.metrics["slice_fused"]["overall"]["cancer"])
    assert len(with_fused.data) == 6 and with_fused.data[4].name.startswith("fused 3D")
    pr_fused = figures_eval.pr_figure(sm, result.metrics["slice_fused"]["overall"]["cancer"])
    assert len(figs[1].data) == 4 and len(pr_fused.data) == 5 and pr_fused.data[4].line.dash == "dash"
    assert figures_eval.table_figure(result.size_table()).data
    assert figures_eval.table_figure(result.contrast_table()).data
    assert figures_eval.table_figure(result.phase_table()).data
    dice_rows, detection = result.summary_tables()
    summary = result.metrics["cases_summary"]
    assert [r["labels from"] for r in dice_rows] == [*VIEWS, "fused", "fused minus mean single view"]
    assert dice_rows[3]["mean tumor Dice"] == summary["mean_dice"]["fused"]["tumor"]
    assert detection[0]["lesions"] == summary["lesions"]["n_true"] and detection[0]["studies"] == len(result.cases)
    curves = figures_eval.training_curves(result.history)
    assert "loss" in curves and curves["lr"].layout.yaxis.type != "log" and curves["lr"].layout.yaxis.tickformat == ".1e"
    slider = viewer_eval.slice_slider_figure(result.viewer["test-a"], "coronal", step=4)
    assert len(slider.frames) == SIZE // 4 and slider.layout.sliders[0].steps[0].method == "animate"
    assert slider.layout.width == viewer_eval.MIN_SHOWN_PX + 40  # tiny test cubes are still shown readable
    widget = viewer_eval.overlay_viewer(result.viewer)
    assert widget.children[2].value[:4] == b"\x89PNG"
    # Overlay colours: predicted tumor red-tinted, reference outlined yellow.
    label = np.zeros((8, 8), np.uint8)
    label[2:6, 2:6] = 2
    rgb = viewer_eval.overlay_rgb(np.full((8, 8), 60.0), label, reference=label)
    assert tuple(rgb[2, 2]) == REFERENCE_RGB[2] and rgb[3, 3, 0] > rgb[3, 3, 1]
    thr = viewer_eval.threshold_label(np.array([[0.5, 0.2, 0.3]]), 0.4)
    assert thr.tolist() == [1]  # liver+tumor 0.5 >= 0.4, tumor 0.3 < 0.4
    small, big = np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8)
    small[1, 1, 1], big[1:3, 1:3, 1] = 2, 2
    cases = {"a": {"label": None}, "b": {"label": small}, "c": {"label": big}, "d": {"label": small}}
    assert viewer_eval.case_with_most_tumor(cases) == "c"
    assert viewer_eval.case_with_most_tumor({"x": {"label": None}}) == "x"
    assert viewer_eval.case_with_most_tumor({}) is None


@pytest.mark.slow
def test_notebook_runs_under_papermill(tiny_run, tmp_path):
    import papermill as pm

    out = tmp_path / "04_evaluate.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "04_evaluate.ipynb"), str(out), kernel_name="python3", cwd=str(ROOT),
        parameters={"run_dir": str(tiny_run["run"]), "data_root": str(tiny_run["data_root"]), "dataset": "tiny",
                    "image_size": SIZE, "max_cases": 2, "batch_size": 8, "slider_every": 8},
        progress_bar=False,
    )
    _check_outputs(tiny_run["run"], 18, 2)
    import nbformat

    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs) >= 10


def test_notebook_is_committed_clean():
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "04_evaluate.ipynb", as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "parameters" in nb.cells[2].metadata.get("tags", [])
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
            assert "def " not in cell.source and "class " not in cell.source
    for line in nb.cells[2].source.splitlines():
        assert ": " in line.split("=")[0] and "#" in line  # typed literal with a comment


def test_calibrate_run_and_the_threshold_reaches_the_evaluation(tiny_run, tmp_path):
    import shutil

    from liverlib.calibrate import CANDIDATES, calibrate_run
    from liverlib.evaluate import evaluate_run
    from liverlib.saved_model import CALIBRATION_FILE, calibrated_tumor_threshold

    run = tmp_path / "run"
    shutil.copytree(tiny_run["run"], run)
    record = calibrate_run(run, tiny_run["dataset"], tiny_run["interim"], split="test", progress=False)
    assert record["cases"] == ["test-a", "test-b"] and len(record["tumor_dice"]) == len(CANDIDATES)
    assert record["reference_tumor_voxels"] > 0
    defined = [(d, t) for d, t in zip(record["tumor_dice"], CANDIDATES) if d is not None]
    assert record["tumor_threshold"] == max(defined, key=lambda c: (c[0], c[1]))[1]
    assert calibrated_tumor_threshold(run / "best_model.keras") == record["tumor_threshold"]
    (run / CALIBRATION_FILE).write_text(json.dumps({**record, "tumor_threshold": 0.1}))
    result = evaluate_run(run, tiny_run["dataset"], tiny_run["interim"], max_cases=1, write=False, progress=False)
    assert result.metrics["tumor_threshold"] == 0.1 and result.cases[0]["preprocessing"]["tumor_threshold"] == 0.1
    # Calibrated on the split it evaluates: said in metrics.json (and the index note).
    assert result.metrics["tumor_threshold_source"] == "chosen on 2 test studies, the split evaluated here: optimistic"
    assert result.metrics["headline"]["fused"]["tumor_threshold_source"] == result.metrics["tumor_threshold_source"]
    argmax = evaluate_run(run, tiny_run["dataset"], tiny_run["interim"], max_cases=1, tumor_threshold=0.5,
                          write=False, progress=False)
    assert argmax.metrics["tumor_threshold_source"] == "argmax"
    covered = ~np.isnan(result.slices.cancer_fused)
    low, high = (r.slices.fused_mask[covered] == 2 for r in (result, argmax))
    assert low.sum() >= high.sum() and (low | ~high).all()  # the lower threshold only adds tumor
