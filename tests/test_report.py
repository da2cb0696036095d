"""Report export details: framework start-up noise."""

from __future__ import annotations

from pathlib import Path

import nbformat

from liverlib.report import drop_stderr_noise


def test_stderr_noise_is_dropped_and_real_warnings_kept():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("import liverlib")
    noise = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
             "E0000 00:00:1795828247.753510   15846 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=noise),
        nbformat.v4.new_output("stream", name="stderr", text=noise + "UserWarning: 3 studies have no label\n"),
        nbformat.v4.new_output("stream", name="stdout", text="I0000 kept on stdout\n"),
    ]
    nb.cells = [cell]
    assert drop_stderr_noise(nb) == 4
    assert [o.get("text") for o in cell.outputs] == ["UserWarning: 3 studies have no label\n", "I0000 kept on stdout\n"]


def test_index_page_shows_the_auc_interval_and_the_gain_over_the_head(tmp_path):
    import json

    from liverlib.report import write_index
    from liverlib.runner import RunResult

    headline = {
        "all views": {"liver_dice": 0.95, "tumor_dice": 0.7, "cancer_auc": 0.91, "n_slices": 364,
                      "cancer_auc_ci95": [0.832, 0.949]},
        "axial": {"liver_dice": 0.94, "tumor_dice": 0.77, "cancer_auc": 0.93, "n_slices": 118},
        "fused": {"liver_dice": 0.96, "tumor_dice": 0.76, "cancer_auc": 0.961, "n_slices": 364,
                  "cancer_auc_ci95": [0.864, 0.991], "cancer_auc_gain_over_head": 0.049,
                  "cancer_auc_gain_over_head_ci95": [-0.028, 0.102]},
    }
    (tmp_path / "metrics.json").write_text(json.dumps({"headline": headline}))
    page = write_index(tmp_path, RunResult(tmp_path, "demo", {})).read_text()
    assert "AUC 95% interval (resampling patients)</th>" in page
    assert "<td>0.961</td><td>0.864-0.991</td>" in page and "<td>0.910</td><td>0.832-0.949</td>" in page
    assert "<td>0.930</td><td></td>" in page  # a view without an interval leaves the cell empty
    assert "+0.049 (-0.028 to +0.102)" in page


def test_index_page_says_how_the_scored_models_training_ended(tmp_path, monkeypatch):
    import json

    from liverlib.report import write_index
    from liverlib.runner import RunResult

    monkeypatch.chdir(tmp_path)  # run folders named relative to the project root
    import shutil

    root = Path(__file__).resolve().parents[1]  # a project with the real profiles
    (tmp_path / "pyproject.toml").write_text("")
    shutil.copytree(root / "configs", tmp_path / "configs")
    run, other = tmp_path / "outputs" / "runs" / "demo", tmp_path / "outputs" / "runs" / "other"
    run.mkdir(parents=True), other.mkdir(parents=True)
    page = write_index(run, RunResult(run, "demo", {})).read_text()
    assert "Training" not in page  # no training_history.json: nothing said about training
    history = {"config": {"epochs": 12, "max_minutes": 6.0}, "history": {"seconds": [37.0] * 9}, "epochs_done": 9,
               "best_epoch": 9, "completed": False, "stopped_by_time": 9}
    (run / "training_history.json").write_text(json.dumps(history))
    page = write_index(run, RunResult(run, "demo", {})).read_text()
    assert ("<p>Training (03_train): Stopped by the time budget (max_minutes 6) after epoch 9 of 12, 5.5 min of "
            "epochs; best epoch 9 (lowest val_loss). python -m liverlib run --profile demo --from 03_train --force "
            "continues it (up to epoch 12).</p>") in page
    # The options the run's steps were passed beyond the profile (threshold is no profile key) belong in it.
    (run / "steps.json").write_text(json.dumps({
        "03_train": {"parameters": {"epochs": 12, "batch_size": 8, "run_dir": "outputs/runs/demo"}},
        "04_evaluate": {"parameters": {"threshold": 0.4, "windows": [[60, 400]], "run_dir": "outputs/runs/demo"}}}))
    page = write_index(run, RunResult(run, "demo", {})).read_text()
    assert ("python -m liverlib run --profile demo -p batch_size 8 -p threshold 0.4 -p windows "
            "&#x27;[[60, 400]]&#x27; --from 03_train --force continues it") in page

    from liverlib.report import rerun_training

    assert rerun_training(Path("outputs/runs/gpu-1"), "full").startswith(
        "python -m liverlib run --profile full --run-id gpu-1 --from 03_train --force")

    # 04 scored another run's model: the sentence is about that model, not this folder's own training.
    (other / "training_history.json").write_text(json.dumps({**history, "completed": True, "stopped_by_time": None,
                                                             "epochs_done": 12, "best_epoch": 11}))
    (run / "metrics.json").write_text(json.dumps({"headline": {}, "model_dir": "outputs/runs/other"}))
    page = write_index(run, RunResult(run, "demo", {})).read_text()
    assert "<p>Training of the scored model (outputs/runs/other): Trained all 12 epochs" in page
    assert "Stopped by the time budget" not in page


def test_parameter_readers_say_which_value_each_kept_step_was_made_with():
    from liverlib.report import parameter_readers
    from liverlib.runner import StepResult

    fractions = {"train": 0.7, "valid": 0.15, "test": 0.15}
    steps = [
        StepResult("01_decode", "skipped", 55.0, "01_decode.html", declared=("split_fractions", "seed"),
                   parameters={"seed": 0, "split_fractions": dict(sorted(fractions.items()))}),  # as the state file sorts it
        StepResult("03_train", "skipped", 0.0, "", declared=("seed", "epochs")),  # never ran
        StepResult("04_evaluate", "ran", 60.0, "04_evaluate.html", declared=("model_dir", "epochs"), parameters={}),
        StepResult("05_old", "skipped", 9.0, "05_old.html", declared=("epochs",)),  # a state file without parameters
    ]
    assert parameter_readers("split_fractions", fractions, steps) == "01"  # key order does not make it differ
    assert parameter_readers("seed", 1, steps) == "01 (made with 0), 03 (never ran in this run)"
    assert parameter_readers("model_dir", "outputs/runs/demo", steps) == "04 (made with the notebook's default)"
    assert parameter_readers("epochs", 12, steps).endswith("05 (value not recorded)")
