"""The GPU entry point, benchmarks/full_profile.py, run end to end on the smoke profile."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_full_profile_script_runs_every_stage_and_reports(tmp_path, capsys):
    script = load_script("full_profile")
    summary = script.main(["--profile", "smoke", "--data-root", str(tmp_path / "data"), "--run-dir",
                           str(tmp_path / "run"), "--workers", "1", "--train-workers", "1",
                           "--out", str(tmp_path / "summary.json")])
    assert set(summary["seconds"]) == {"decode_and_dataset", "training", "calibration", "evaluation"}
    assert summary["epochs_done"] == 1 and summary["stopped_by_time"] is None
    assert summary["counts"]["train"]["n"] > 0 and summary["counts"]["test"]["n"] > 0
    assert {"all views", "fused"} <= set(summary["headline"])
    assert json.loads((tmp_path / "summary.json").read_text())["profile"] == "smoke"
    out = capsys.readouterr().out
    assert "of which validation" in out and "seconds: decode_and_dataset" in out
    assert (tmp_path / "run" / "metrics.json").exists() and (tmp_path / "run" / "calibration.json").exists()


class _SleepyModel:
    """Stands in for a compiled Keras model: each epoch sleeps the next of ``seconds``."""

    def __init__(self, seconds):
        self.seconds = list(seconds)

    def fit(self, data, epochs, callbacks, **kwargs):
        import time

        for epoch in range(epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            time.sleep(self.seconds.pop(0))
            for cb in callbacks:
                cb.on_epoch_end(epoch)


def test_training_benchmark_takes_each_ways_fastest_epoch_but_never_the_compiling_one():
    script = load_script("train")
    # pipeline: compiles (0.01 s: a fast first epoch must not count), then a slow spell, then fast;
    # bare: slow in its first turn, fast in its second.
    ways = {"pipeline": (_SleepyModel([0.01, 0.30, 0.05, 0.30]), None, {}),
            "bare": (_SleepyModel([0.30, 0.30, 0.10, 0.30]), None, {})}
    seen = []
    rate = script.timed_rounds(ways, images_per_epoch=10, rounds=2, after_first=lambda: seen.append(
        (len(ways["pipeline"][0].seconds), len(ways["bare"][0].seconds))))
    assert seen == [(2, 4)]  # once, after the pipeline's first turn, before the bare fit trained
    # a sleep never ends early, so the upper bounds are exact; the lower ones leave a loaded CI room
    assert 10 / 0.2 < rate["pipeline"] <= 10 / 0.05
    assert 10 / 0.25 < rate["bare"] <= 10 / 0.10
