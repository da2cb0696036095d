import types

import pytest

pytest.importorskip("keras")

from liverlib import callbacks  # noqa: E402
from liverlib.callbacks import TimeBudget  # noqa: E402


def test_time_budget_stops_when_one_more_mean_epoch_would_pass_it(monkeypatch):
    clock = iter([0.0, 3.0, 6.0, 9.0])  # train begins, then three epochs of 3 s each
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    backup = types.SimpleNamespace(delete_checkpoint=True)
    budget = TimeBudget(10.0, backup)
    budget.set_model(types.SimpleNamespace(stop_training=False))
    budget.set_params({"epochs": 10})
    budget.on_train_begin()
    budget.on_epoch_end(0)  # 3 s spent, one more: 6 s <= 10
    budget.on_epoch_end(1)  # 6 s spent, one more: 9 s <= 10
    assert not budget.model.stop_training and budget.stopped_after is None
    budget.on_epoch_end(2)  # 9 s spent, one more: 12 s > 10
    assert budget.model.stop_training and budget.stopped_after == 3
    assert backup.delete_checkpoint is False  # the backup stays: the same call continues the run


@pytest.mark.parametrize("epochs, early_stop", [(3, False), (10, True)])
def test_a_stop_on_the_last_epoch_or_by_early_stopping_is_no_budget_stop(monkeypatch, epochs, early_stop):
    clock = iter([0.0, 3.0, 6.0, 9.0])
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    budget = TimeBudget(10.0)
    budget.set_model(types.SimpleNamespace(stop_training=False))
    budget.set_params({"epochs": epochs})
    budget.on_train_begin()
    budget.on_epoch_end(0)
    budget.on_epoch_end(1)
    budget.model.stop_training = early_stop
    budget.on_epoch_end(2)  # over budget, but the run is over anyway
    assert budget.stopped_after is None
