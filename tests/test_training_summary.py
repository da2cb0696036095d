import json

import pytest

from liverlib.training_summary import read_training_summary, training_summary

CONFIG = {"epochs": 12, "early_stopping_patience": 4, "max_minutes": 6.0}


def record(done, best, completed, stopped=None, seconds=30.0):
    return {"config": CONFIG, "history": {"seconds": [seconds] * done}, "epochs_done": done, "best_epoch": best,
            "completed": completed, "stopped_by_time": stopped}


@pytest.mark.parametrize(
    ("rec", "expected"),
    [
        (record(12, 12, True), "Trained all 12 epochs, 6.0 min of epochs; best epoch 12 (lowest val_loss)."),
        (record(9, 5, True), "Early stopping ended it after epoch 9 of 12 (no lower val_loss for 4 epochs), "
                             "4.5 min of epochs; best epoch 5 (lowest val_loss)."),
        (record(9, 9, False, stopped=9, seconds=36.6),
         "Stopped by the time budget (max_minutes 6) after epoch 9 of 12, 5.5 min of epochs; best epoch 9 "
         "(lowest val_loss). The same command again continues it (up to epoch 12)."),
        (record(3, 2, False), "Interrupted after epoch 3 of 12, 1.5 min of epochs; best epoch 2 (lowest val_loss). "
                              "The same command again resumes it from there."),
        (record(0, 0, False), "No epoch finished yet. The same command again starts it."),
    ],
    ids=["all epochs", "early stopping", "time budget", "killed", "nothing yet"],
)
def test_summary_says_how_the_run_ended(rec, expected):
    assert training_summary(rec) == expected


def test_summary_reads_what_an_older_or_partial_record_holds():
    # Per-epoch seconds missing: the call's total; no planned epochs or budget recorded: left out, not "None".
    rec = {"config": {"epochs": None, "max_minutes": None}, "history": {}, "seconds": 90.0, "epochs_done": 3,
           "best_epoch": 3, "completed": False, "stopped_by_time": 3}
    assert training_summary(rec, again="Running this notebook again") == (
        "Stopped by the time budget after epoch 3, 1.5 min of epochs; best epoch 3 (lowest val_loss). "
        "Running this notebook again continues it.")
    assert training_summary({"config": None, "history": None, "epochs_done": 2, "completed": True}) == (
        "Trained all 2 epochs.")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"config": 5}', '{"epochs_done": "x"}',
                                     '{"epochs_done": Infinity}', "[" * 100_000 + "]" * 100_000])
def test_a_damaged_history_says_nothing_and_raises_nothing(tmp_path, content):
    (tmp_path / "training_history.json").write_text(content)
    assert read_training_summary(tmp_path) == ""


def test_summary_of_a_run_folder(tmp_path):
    assert read_training_summary(tmp_path) == ""  # no training here (04 scored another run's model)
    (tmp_path / "training_history.json").write_text(json.dumps(record(12, 11, True)))
    assert read_training_summary(tmp_path).startswith("Trained all 12 epochs")
