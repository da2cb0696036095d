"""What a saved model's preprocessing.json says of its patients, and the evaluation's refusal."""

from __future__ import annotations

import json
import logging

import pytest

from liverlib.errors import DatasetError
from liverlib.saved_model import check_unseen, patients_record, pseudonym_key


def _model_with(tmp_path, record: dict):
    (tmp_path / "preprocessing.json").write_text(json.dumps({"image_size": 128, **record}))
    return tmp_path / "best_model.keras"


def test_training_patients_are_refused_validation_patients_warned(tmp_path, caplog):
    model = _model_with(tmp_path, patients_record({"train": ["b", "a"], "valid": ["v"], "test": ["t"]}))
    record = json.loads((tmp_path / "preprocessing.json").read_text())
    assert record["train_cases"] == ["a", "b"] and record["valid_cases"] == ["v"] and "test_cases" not in record
    with pytest.raises(DatasetError, match=r"heldout/test: 1 of its studies trained the model .*\(e\.g\. b\)"):
        check_unseen(model, ["x", "b"], "heldout/test")
    with caplog.at_level(logging.WARNING, logger="liverlib.saved_model"):
        check_unseen(model, ["x", "t"], "heldout/test")  # the model's own test patients: a fair test
        assert not caplog.records
        check_unseen(model, ["x", "v"], "heldout/test")
    assert "1 of its studies are the model's validation patients" in caplog.text


def test_a_model_that_cannot_be_checked_says_so(tmp_path, caplog):
    (tmp_path / "old").mkdir()
    old = _model_with(tmp_path / "old", {})
    other = tmp_path / "other"
    other.mkdir()
    foreign = _model_with(other, {"train_cases": ["b"], "pseudonym_key": "0" * 16})
    assert pseudonym_key() != "0" * 16 and len(pseudonym_key()) == 16
    with caplog.at_level(logging.WARNING, logger="liverlib.saved_model"):
        check_unseen(old, ["b"], "heldout/test")  # trained before the list existed
        check_unseen(foreign, ["b"], "heldout/test")  # named with another checkout's salt: "b" is not the same patient
    assert "does not list the model's training patients" in caplog.text
    assert "another pseudonym salt" in caplog.text


def test_a_relative_dataset_root_in_the_history_means_the_project_root(tmp_path, monkeypatch):
    # training_history.json records dataset_root relative to the project root; a kernel in
    # notebooks/ must still find the manifest there (not fall back to the defaults).
    from liverlib.saved_model import resolve_params

    (tmp_path / "pyproject.toml").write_text("")
    dataset = tmp_path / "data" / "processed" / "x" / "8"
    dataset.mkdir(parents=True)
    (dataset / "manifest.json").write_text(json.dumps({"image_size": 8, "spacing_mm": 2.5, "min_lesion_mm": 3.0}))
    run = tmp_path / "outputs" / "runs" / "r"
    run.mkdir(parents=True)
    (run / "training_history.json").write_text(json.dumps({"config": {"dataset_root": "data/processed/x/8"}}))
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    params = resolve_params(run / "best_model.keras")
    assert (params.image_size, params.spacing_mm, params.min_lesion_mm) == (8, 2.5, 3.0)
