"""How a training run ended, in one sentence: for 03_train, the ``train`` command and the index page.

A reader of a report needs to know whether the model trained all its epochs
or was cut short (early stopping, a time budget, a kill), before reading its
Dice or AUC. Reads ``training_history.json`` as ``train_model`` writes it; no
Keras import, so the index page can say it without starting a backend.
"""

from __future__ import annotations

import json
from pathlib import Path


def training_summary(record: dict, again: str = "The same command again") -> str:
    """Say how a training run ended.

    Args:
        record: ``train_model``'s result or the content of its
            ``training_history.json``: ``config`` (``epochs``,
            ``early_stopping_patience``, ``max_minutes``), ``history`` (with
            per-epoch ``seconds``, summed over a resumed run's calls),
            ``epochs_done``, ``best_epoch``, ``completed`` and ``stopped_by_time``.
        again: How the reader runs it again, the start of a sentence.

    Returns:
        e.g. ``"Stopped by the time budget (max_minutes 6) after epoch 9 of
        12, 5.5 min of epochs; best epoch 9 (lowest val_loss). The same
        command again continues it (up to epoch 12)."``
    """
    config = record.get("config") or {}
    planned = config.get("epochs")
    done, best = int(record.get("epochs_done") or 0), int(record.get("best_epoch") or 0)
    seconds = sum((record.get("history") or {}).get("seconds") or []) or record.get("seconds") or 0.0
    of = f" of {planned}" if planned else ""
    spent = f", {seconds / 60:.1f} min of epochs" if seconds else ""
    best_text = f"; best epoch {best} (lowest val_loss)" if best else ""
    stopped = record.get("stopped_by_time")
    if stopped:
        budget = config.get("max_minutes")
        budget_text = f" (max_minutes {budget:g})" if budget else ""
        return (f"Stopped by the time budget{budget_text} after epoch {stopped}{of}{spent}{best_text}. "
                f"{again} continues it{f' (up to epoch {planned})' if planned else ''}.")
    if not done:
        return f"No epoch finished yet. {again} starts it."
    if not record.get("completed"):
        return f"Interrupted after epoch {done}{of}{spent}{best_text}. {again} resumes it from there."
    if planned and done < planned:
        patience = config.get("early_stopping_patience")
        why = f" (no lower val_loss for {patience} epochs)" if patience else ""
        return f"Early stopping ended it after epoch {done}{of}{why}{spent}{best_text}."
    return f"Trained all {done} epochs{spent}{best_text}."


def read_training_summary(run_dir: str | Path, again: str = "The same command again") -> str:
    """``training_summary`` of ``run_dir/training_history.json``; '' when there is none or it cannot be read.

    Never raises: the index page is written even after a failed step, and a
    damaged history must not hide that step's error.
    """
    path = Path(run_dir) / "training_history.json"
    try:
        record = json.loads(path.read_text())
        return training_summary(record, again) if isinstance(record, dict) else ""
    except Exception:  # noqa: BLE001 - whatever a damaged file holds (inf, deep nesting...), say nothing
        return ""
