import json

import pytest

from liverlib.training_summary import read_training_summary, training_summary

CONFIG = {"epochs": 12, "early_stopping_patience": 4, "max_minutes": 6.5}


def record(done, best, completed, stopped=None, seconds=30.0):
    return {"config": CONFIG, "history": {"seconds": [seconds] * done}, "epochs_done": done, "best_epoch": best,
            "completed": completed, "stopped_by_time": stopped}


@pytest.mark.parametrize(
    ("rec", "expected"),
    [
        (record(12, 12, True), "trained all 12 epochs, 6.0 min of epochs; best epoch 12 (lowest val_loss)."),
        (record(9, 5, True), "early stopping ended it after epoch 9 of 12 (no lower val_loss for 4 epochs), "
                             "4.5 min of epochs; best epoch 5 (lowest val_loss)."),
        (record(10, 10, False, stopped=10, seconds=37.2),
         "stopped by the time budget (max_minutes 6.5) after epoch 10 of 12, 6.2 min of epochs; best epoch 10 "
         "(lowest val_loss). The same training run again continues it to epoch 12."),
        (record(3, 2, False), "interrupted after epoch 3 of 12, 1.5 min of epochs; best epoch 2 (lowest val_loss). "
                              "The same training run again resumes it from there."),
    ],
    ids=["all epochs", "early stopping", "time budget", "killed"],
)
def test_summary_says_how_the_run_ended(rec, expected):
    assert training_summary(rec) == expected


def test_summary_of_a_run_folder(tmp_path):
    assert read_training_summary(tmp_path) == ""  # no training here (04 scoring another run's model)
    (tmp_path / "training_history.json").write_text("{not json")
    assert read_training_summary(tmp_path) == ""
    (tmp_path / "training_history.json").write_text(json.dumps(record(12, 11, True)))
    assert read_training_summary(tmp_path).startswith("trained all 12 epochs")
