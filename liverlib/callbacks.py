"""Keras callbacks of a training run: checkpoints and history, seeds, time budget.

``RunKeeper`` writes ``best_model.keras``, ``last_model.keras`` and
``training_history.json`` after every epoch and rebuilds early stopping when
a run resumes; ``EpochSeeds`` makes a resumed epoch draw the same dropout
masks; ``TimeBudget`` stops a run that would pass its time budget.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import keras
import numpy as np

from liverlib.atomic import write_json

HISTORY_FILE = "training_history.json"

# Keras log names -> short names used in the history file, the progress line and the plots.
RENAME = {"seg_liver_dice": "liver_dice", "seg_tumor_dice": "tumor_dice", "cancer_auc": "auc"}


def save_model(model: keras.Model, path: Path) -> None:
    """Save a model under a temporary name, then rename: a kill leaves the old file whole."""
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


class RunKeeper(keras.callbacks.Callback):
    """Checkpoints, history file, progress line, and early-stopping state on resume.

    Besides the Keras logs and the learning rate, the history keeps where each
    epoch's time went: ``seconds`` (training and validation; the first epoch
    also compiles), ``validation_seconds`` (its validation pass) and
    ``checkpoint_seconds`` (what is written after it: the ``BackupAndRestore``
    state and the two model files). The epoch's end is read by ``clock``, an
    :class:`EpochClock` listed before the backup.

    Args:
        net: The network to save (weights shared with the trained model).
        run_dir: Output folder.
        epochs: Total epochs (for the progress line).
        record: The history file's content, reloaded when resuming.
        early_stopping: The EarlyStopping callback whose state is rebuilt.
        export: float32 twin of ``net`` saved instead of it (mixed precision), or None.
        verbose: Print one line per epoch.
        clock: The run's :class:`EpochClock`, listed before the backup.
    """

    def __init__(self, net, run_dir, epochs, record, early_stopping, clock, export=None, verbose=True):
        super().__init__()
        self.net, self.run_dir, self.epochs = net, Path(run_dir), epochs
        self.record, self.early_stopping = record, early_stopping
        self.export, self.verbose = export, verbose
        self.clock = clock

    def _saved(self):
        if self.export is None:
            return self.net
        self.export.set_weights(self.net.get_weights())
        return self.export

    def on_train_begin(self, logs=None):
        val = self.record["history"].get("val_loss", [])
        es = self.early_stopping
        if not val or es is None:
            return
        best = int(np.argmin(val))
        es.best, es.best_epoch, es.wait = float(val[best]), best, len(val) - 1 - best
        # EarlyStopping keeps the best weights in memory: take them from best_model.keras.
        best_net = keras.saving.load_model(self.run_dir / "best_model.keras", safe_mode=True)
        current = self.model.get_weights()
        self.net.set_weights(best_net.get_weights())
        es.best_weights = self.model.get_weights()
        self.model.set_weights(current)

    def on_epoch_begin(self, epoch, logs=None):
        self._validation = 0.0

    def on_test_begin(self, logs=None):  # fit's validation pass
        self._v0 = time.perf_counter()

    def on_test_end(self, logs=None):
        self._validation = time.perf_counter() - self._v0

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        lr = self.model.optimizer.learning_rate
        logs["lr"] = float(keras.ops.convert_to_numpy(lr))
        t_end = self.clock.t_end
        logs["seconds"] = t_end - self.clock.t0
        logs["validation_seconds"] = self._validation
        hist = self.record["history"]
        for key, value in logs.items():
            for old, new in RENAME.items():
                key = key.replace(old, new)
            hist.setdefault(key, []).append(float(value))
        val = hist.get("val_loss", [])
        if val and val[-1] <= min(val):
            save_model(self._saved(), self.run_dir / "best_model.keras")
            self.record["best_epoch"] = len(val)
        save_model(self._saved(), self.run_dir / "last_model.keras")
        self.record["epochs_done"] = len(hist["loss"])
        hist.setdefault("checkpoint_seconds", []).append(time.perf_counter() - t_end)
        write_json(self.run_dir / HISTORY_FILE, self.record)  # atomic: a kill never leaves half a file
        if self.verbose:
            keys = ("loss", "val_loss", "val_liver_dice", "val_tumor_dice", "val_auc")
            parts = [f"{k}={hist[k][-1]:.4f}" for k in keys if k in hist]
            print(
                f"epoch {len(hist['loss'])}/{self.epochs} " + " ".join(parts)
                + f" lr={logs['lr']:.2e} {logs['seconds']:.1f}s",
                flush=True,
            )


class EpochClock(keras.callbacks.Callback):
    """When each epoch began and ended; listed first, so its end precedes every checkpoint write."""

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.t_end = time.perf_counter()


class TimeBudget(keras.callbacks.Callback):
    """Stop after the epoch that leaves too little time for another one.

    Training stops cleanly (checkpoints, history and the best weights as after
    early stopping) when the time spent so far plus one mean epoch would pass
    ``max_seconds``, and keeps ``backup``'s state, so that the same call run
    again continues where the budget stopped it, to the same result as one
    uninterrupted run: a 60-epoch GPU profile then trains over several leases.
    A stop on the last epoch or after early stopping is no budget stop. The
    budget is not a hard limit: the first epoch always runs, and the clock
    starts when training does (after loading the data and building the model),
    so a call can overrun it by up to an epoch plus that setup.

    Args:
        max_seconds: Wall-clock budget of this ``fit`` call, compilation included.
        backup: The run's ``BackupAndRestore``, told to keep its state on a budget stop.
    """

    def __init__(self, max_seconds: float, backup: keras.callbacks.BackupAndRestore | None = None):
        super().__init__()
        self.max_seconds = float(max_seconds)
        self.backup = backup
        self.stopped_after = None

    def on_train_begin(self, logs=None):
        self._t0, self._epochs = time.perf_counter(), 0

    def on_epoch_end(self, epoch, logs=None):
        self._epochs += 1
        spent = time.perf_counter() - self._t0
        last = epoch + 1 >= (self.params or {}).get("epochs", float("inf"))
        if self.model.stop_training or last:  # early stopping (listed before) or the end: the run is complete
            return
        if spent + spent / self._epochs > self.max_seconds:
            self.model.stop_training = True
            self.stopped_after = epoch + 1
            if self.backup is not None:
                self.backup.delete_checkpoint = False


class EpochSeeds(keras.callbacks.Callback):
    """Reseed the random layers (dropout) at each epoch from ``(seed, epoch)``.

    Keras keeps a dropout layer's RNG state in a variable that the weights
    backup does not hold; reseeding per epoch makes a resumed epoch draw the
    same masks as an uninterrupted one.

    Args:
        net: The network whose layers are reseeded.
        seed: The run's seed.
    """

    def __init__(self, net, seed: int):
        super().__init__()
        self.generators = [g for layer in net._flatten_layers() for g in layer._seed_generators]
        self.seed = int(seed)

    def on_epoch_begin(self, epoch, logs=None):
        seeds = np.random.default_rng((self.seed, 2, epoch)).integers(0, 2**31, len(self.generators))
        for gen, s in zip(self.generators, seeds):
            gen.state.assign(np.array([s, 0], dtype=gen.state.dtype))
