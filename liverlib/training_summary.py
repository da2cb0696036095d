"""How a training run ended, in one sentence: for 03_train, the ``train`` command and the index page.

A reader of a report needs to know whether the model trained all its epochs
or was cut short (early stopping, a time budget, a kill), before reading its
Dice or AUC. Reads ``training_history.json`` as ``train_model`` writes it; no
Keras import, so the index page can say it without starting a backend.
"""

from __future__ import annotations

import json
from pathlib import Path


def training_summary(record: dict, again: str = "The same training run again") -> str:
    """Say how a training run ended.

    Args:
        record: ``train_model``'s result or the content of its
            ``training_history.json``: ``config`` (``epochs``,
            ``early_stopping_patience``, ``max_minutes``), ``history`` (with
            per-epoch ``seconds``), ``epochs_done``, ``best_epoch``,
            ``completed`` and ``stopped_by_time``.
        again: How the reader runs it again, the start of a sentence.

    Returns:
        e.g. ``"stopped by the time budget (max_minutes 6.5) after epoch 10 of
        12, 6.2 min of epochs; best epoch 10 (lowest val_loss). The same
        training run again continues it to epoch 12."``
    """
    config = record.get("config", {})
    planned = config.get("epochs")
    done, best = int(record.get("epochs_done", 0)), int(record.get("best_epoch", 0))
    seconds = sum(record.get("history", {}).get("seconds", []) or []) or record.get("seconds") or 0.0
    of = f" of {planned}" if planned else ""
    spent = f", {seconds / 60:.1f} min of epochs" if seconds else ""
    best_text = f"; best epoch {best} (lowest val_loss)" if best else ""
    stopped = record.get("stopped_by_time")
    if stopped:
        budget = config.get("max_minutes")
        budget_text = f" (max_minutes {budget:g})" if budget else ""
        return (f"stopped by the time budget{budget_text} after epoch {stopped}{of}{spent}{best_text}. "
                f"{again} continues it{f' to epoch {planned}' if planned else ''}.")
    if not record.get("completed"):
        return f"interrupted after epoch {done}{of}{spent}{best_text}. {again} resumes it from there."
    if planned and done < planned:
        patience = config.get("early_stopping_patience")
        why = f" (no lower val_loss for {patience} epochs)" if patience else ""
        return f"early stopping ended it after epoch {done}{of}{why}{spent}{best_text}."
    return f"trained all {done} epochs{spent}{best_text}."


def read_training_summary(run_dir: str | Path, again: str = "The same training run again") -> str:
    """``training_summary`` of ``run_dir/training_history.json``; '' when there is none or it is unreadable."""
    path = Path(run_dir) / "training_history.json"
    try:
        return training_summary(json.loads(path.read_text()), again)
    except (OSError, ValueError):
        return ""
