"""Training of the multitask U-Net from the slice dataset (notebook 03_train).

``train_model`` reads the memory-mapped splits batch by batch, augments on the
device inside the training step (``liverlib.augment``), and writes into
``run_dir``::

    best_model.keras          lowest val_loss so far (float32 weights)
    last_model.keras          the latest epoch
    training_history.json     per-epoch logs + config, rewritten atomically
    backup/                   Keras BackupAndRestore state while a run is live
                              (kept after a stop by the time budget, to continue)

An interrupted run (killed, crashed, out of time) resumes from its last
finished epoch when called again with the same arguments, and ends with the
same weights and history as an uninterrupted one: the batch order and the
augmentation are pure functions of ``(seed, epoch, batch)``, the learning
rate is a cosine schedule of the optimizer step (restored with the
optimizer), and early stopping is rebuilt from the saved history. Called
with other training settings (``epochs`` 12 -> 20, another learning rate; a
time budget or the reading threads do not count), a run folder trains anew,
whether its last run completed or was cut short.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import keras

from liverlib.atomic import write_json
from liverlib.augment import AugmentConfig
from liverlib.callbacks import HISTORY_FILE, EpochClock, EpochSeeds, RunKeeper, TimeBudget
from liverlib.errors import DatasetError
from liverlib.losses import make_losses, make_metrics
from liverlib.model import build_unet
from liverlib.paths import project_relative
from liverlib.saved_model import check_slicing, patients_record
from liverlib.slice_dataset import load_split, read_manifest
from liverlib.train_data import AugmentedTrainer, SliceBatches
from liverlib.training_summary import training_summary

__all__ = ["HISTORY_FILE", "AugmentedTrainer", "SliceBatches", "add_arguments", "run", "train_model"]


def accelerators() -> list[str]:
    """Names of the GPUs the current Keras backend can use (empty on CPU).

    Returns:
        One name per GPU, as the backend's distribution API takes them:
        ``["/gpu:0", "/gpu:1"]`` on TensorFlow, ``["gpu:0", "gpu:1"]`` on JAX.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # Physical devices: listing logical ones would start TensorFlow's runtime,
        # after which memory growth or visible devices can no longer be set.
        return [f"/gpu:{i}" for i in range(len(tf.config.list_physical_devices("GPU")))]
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices() if d.platform == "gpu"]
    return []


def _distribution(devices: list[str]):
    """(replicas, scope, restore) for data-parallel training on ``devices``.

    Two or more devices: ``tf.distribute.MirroredStrategy`` on TensorFlow (its
    scope builds the model), the Keras distribution API's ``DataParallel`` on
    JAX (set globally: ``restore()`` puts back what was set before). Each
    replica gets the per-replica batch, so the global batch scales.
    """
    if len(devices) < 2:
        return 1, contextlib.nullcontext(), lambda: None
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices)
        return strategy.num_replicas_in_sync, strategy.scope(), lambda: None
    if keras.backend.backend() != "jax":
        raise ValueError(f"training on several devices needs the tensorflow or jax backend, not {keras.backend.backend()}")
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return len(devices), contextlib.nullcontext(), lambda: keras.distribution.set_distribution(previous)


def _backup_epoch(backup_dir: Path) -> int:
    """Epochs finished according to BackupAndRestore's metadata (0 when none)."""
    meta = backup_dir / "training_metadata.json"
    if not meta.exists():
        return 0
    return int(json.loads(meta.read_text()).get("epoch", 0))


def train_model(
    dataset_root: str | Path,
    run_dir: str | Path,
    *,
    epochs: int = 30,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    min_lr_fraction: float = 0.05,
    seed: int = 0,
    depth: int = 4,
    base_filters: int = 16,
    dropout: float = 0.1,
    tumor_class_weight: float = 5.0,
    tumor_fraction: float | None = 0.4,
    dice_weight: float = 1.0,
    ce_weight: float = 1.0,
    seg_loss_weight: float = 1.0,
    cancer_loss_weight: float = 0.5,
    augment: bool = True,
    rotation_deg: float = 10.0,
    shift: float = 0.08,
    zoom: float = 0.1,
    flip_prob: float = 0.0,
    brightness: float = 0.05,
    contrast: float = 0.1,
    early_stopping_patience: int = 8,
    mixed_precision: str | bool = "auto",
    max_minutes: float | None = None,
    devices: list[str] | None = None,
    workers: int = 1,
    resume: bool = True,
    verbose: bool = True,
    callbacks: list | None = None,
) -> dict:
    """Train the multitask U-Net on ``<dataset_root>/{train,valid}``.

    Args:
        dataset_root: Slice dataset folder (``data/processed/<dataset>/<size>``).
        run_dir: Output folder (created).
        epochs: Maximum number of epochs.
        batch_size: Batch size per replica (the global batch scales with GPUs).
        learning_rate: Initial learning rate of Adam.
        min_lr_fraction: Cosine schedule ends at this fraction of ``learning_rate``.
        seed: Seed of weights, batch order, dropout and augmentation.
        depth: U-Net down-sampling steps.
        base_filters: Filters of the first level.
        dropout: Dropout rate (see ``build_unet``).
        tumor_class_weight: Cross-entropy weight of tumor pixels.
        tumor_fraction: Share of each training epoch drawn from slices with
            tumor (oversampled; ``SliceBatches``), None or 0 for plain shuffling.
        dice_weight: Weight of soft Dice in the ``seg`` loss.
        ce_weight: Weight of cross-entropy in the ``seg`` loss.
        seg_loss_weight: Weight of the ``seg`` loss.
        cancer_loss_weight: Weight of the ``cancer`` loss.
        augment: Augment training batches.
        rotation_deg: Rotation range (degrees).
        shift: Shift range (fraction of the image).
        zoom: Zoom range (fraction).
        flip_prob: Left-right flip probability (0: see ``liverlib.augment``).
        brightness: Brightness range (added, images in [0, 1]).
        contrast: Contrast range (factor around 1).
        early_stopping_patience: Epochs without val_loss improvement before stopping.
        mixed_precision: ``"auto"`` (on when a GPU is used), True or False.
        max_minutes: Stop after the epoch that leaves less than a mean epoch
            of this budget (``TimeBudget``); None trains up to ``epochs``.
            The history records ``stopped_by_time`` (the last epoch) or None;
            a run stopped so is not ``completed``: called again, it continues.
        devices: Devices to train on, one replica each, data parallel when
            two or more: names as ``accelerators()`` gives them, e.g.
            ``["/gpu:0", "/gpu:1"]`` on TensorFlow or ``["gpu:0", "gpu:1"]``
            on JAX. None: every GPU there is (the CPU when there is none). One
            device or none places nothing: the backend's default device trains
            (the first GPU when there is one). Recorded in the history's
            ``config``; ``mixed_precision="auto"`` turns on when they are GPUs.
        workers: PyDataset worker threads (1 reads in the prefetch thread).
        resume: Continue an interrupted run in ``run_dir`` (or return a completed
            one) when it was started with the same settings, ``RUN_CONTROL``
            aside, on the same slice dataset (the manifest's ``fingerprint``,
            kept as ``dataset_fingerprint``); with other settings (e.g.
            ``epochs`` 12 -> 20) or a rebuilt dataset (other studies, another
            split) the run trains anew and says which changed. False starts over.
        verbose: One progress line per epoch.
        callbacks: Extra Keras callbacks (run after the built-in ones).

    Returns:
        ``{"history": {...}, "best_model": path, "last_model": path,
        "history_path": path, "epochs_done": n, "best_epoch": n,
        "global_batch_size": n, "replicas": n, "mixed_precision": bool,
        "backend": str, "seconds": float, "stopped_by_time": n or None}``.
    """
    config = {k: v for k, v in locals().items() if k not in ("callbacks", "verbose")}
    for key in ("dataset_root", "run_dir"):  # recorded relative to the project root: no local path in the history
        config[key] = project_relative(config[key])
    dataset_root, run_dir = Path(dataset_root), Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(dataset_root)
    preprocessing = {
        key: manifest[key]
        for key in ("image_size", "spacing_mm", "windows", "context_slices", "context_step", "channels", "views", "crop",
                    "liver_margin_mm", "antialias") if key in manifest
    }
    if manifest.get("splits", {}).get("train"):  # pseudonyms: lets an evaluation refuse the model's own patients
        preprocessing.update(patients_record(manifest["splits"]))
    backup_dir = run_dir / "backup"
    history_path = run_dir / HISTORY_FILE
    paths = {
        "best_model": str(run_dir / "best_model.keras"),
        "last_model": str(run_dir / "last_model.keras"),
        "history_path": str(history_path),
    }
    devices = accelerators() if devices is None else list(devices)
    config["devices"] = devices  # what this call trains on: other devices (another global batch) train anew
    # The slices it learns from: a dataset rebuilt since (phantoms of a newer generator, studies
    # added, another split) trains anew, or the model would have seen today's test patients.
    config["dataset_fingerprint"] = manifest.get("fingerprint")
    old = _read_history(history_path) if resume else {}
    changed = _changed_settings(old.get("config") or {}, config)
    if changed:  # a run resumes (or counts as done) only with the settings it was started with
        print(f"{project_relative(run_dir)}: settings changed since its last training ("
              + ", ".join(f"{k} {old['config'].get(k)!r} -> {config[k]!r}" for k in changed) + "): training anew",
              flush=True)
        resume, old = False, {}
    if not resume:
        import shutil

        shutil.rmtree(backup_dir, ignore_errors=True)
        history_path.unlink(missing_ok=True)
    if resume and old.get("completed") and not backup_dir.exists():
        if verbose:
            print(f"{project_relative(history_path)}: run already completed, nothing to do", flush=True)
        try:  # its preprocessing.json stays the model's, whatever the dataset is now
            check_slicing(run_dir / "best_model.keras", manifest, dataset_root)
        except ValueError as err:
            print(f"warning: {err}", flush=True)
        return {**old, **paths}
    # The model file does not say how its inputs were made: keep that beside it,
    # so prediction preprocesses a new study exactly as the training slices were.
    write_json(run_dir / "preprocessing.json", preprocessing)

    train = load_split(dataset_root, "train")
    valid = load_split(dataset_root, "valid")
    for name, split in (("train", train), ("valid", valid)):
        if len(split) == 0:
            raise DatasetError(
                Path(dataset_root) / name,
                f"the {name} split has no slices: the patient split put no study in it (a cohort of a few studies "
                "leaves valid and test empty; decode more studies, at least one per split, then build the dataset again)",
            )
    size, channels = int(train.images.shape[1]), int(train.images.shape[3])

    start_epoch = _backup_epoch(backup_dir) if resume else 0
    record = {"config": config, "history": {}, "epochs_done": 0, "best_epoch": 0, "completed": False}
    if start_epoch and old:
        # Keep what the backup covers; an epoch logged after the last backup is redone.
        record["history"] = {k: v[:start_epoch] for k, v in old.get("history", {}).items()}
        record["best_epoch"] = min(old.get("best_epoch", 0), start_epoch)

    on_gpu = any(kind in str(d).lower() for d in devices for kind in ("gpu", "cuda"))
    use_mp = on_gpu if mixed_precision == "auto" else bool(mixed_precision)
    previous_policy = keras.config.dtype_policy()
    keras.utils.set_random_seed(seed)
    aug = AugmentConfig(rotation_deg, shift, zoom, flip_prob, brightness, contrast) if augment else None
    t0 = time.perf_counter()
    restore_distribution = lambda: None  # noqa: E731
    try:
        replicas, scope, restore_distribution = _distribution(devices)
        global_batch = batch_size * replicas
        train_ds = SliceBatches(
            train, global_batch, shuffle=True, seed=seed, augment=aug, infinite=True,
            start_epoch=start_epoch, tumor_fraction=tumor_fraction, workers=workers, batch_multiple=replicas,
        )
        valid_ds = SliceBatches(valid, global_batch, workers=workers, batch_multiple=replicas)
        steps = train_ds.len_epoch
        if use_mp:
            keras.mixed_precision.set_global_policy("mixed_float16")
        with scope:
            net = build_unet(size, channels, depth=depth, base_filters=base_filters, dropout=dropout)
            trainer = AugmentedTrainer(net, name="trainer")
            schedule = keras.optimizers.schedules.CosineDecay(
                learning_rate, decay_steps=max(1, epochs * steps), alpha=min_lr_fraction
            )
            loss, loss_weights = make_losses(
                tumor_class_weight, dice_weight, ce_weight, seg_loss_weight, cancer_loss_weight
            )
            trainer.compile(
                optimizer=keras.optimizers.Adam(schedule),
                loss=loss,
                loss_weights=loss_weights,
                metrics=make_metrics(),
            )
            trainer(train_ds[0][0])  # build: BackupAndRestore needs built weights
        keras.mixed_precision.set_global_policy(previous_policy)
        export = None
        if use_mp:  # checkpoints in float32, so they run on a CPU too
            export = build_unet(size, channels, depth=depth, base_filters=base_filters, dropout=dropout)
        early = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True
        )
        clock = EpochClock()
        keeper = RunKeeper(net, run_dir, epochs, record, early, clock, export, verbose)
        backup = keras.callbacks.BackupAndRestore(str(backup_dir))
        budget = TimeBudget(60 * max_minutes, backup) if max_minutes else None
        all_callbacks = [
            clock,
            backup,
            early,
            keeper,
            EpochSeeds(net, seed),
            *([budget] if budget else []),
            *(callbacks or []),
        ]
        if start_epoch and verbose:
            print(f"resuming {project_relative(run_dir)} after epoch {start_epoch}", flush=True)
        trainer.fit(
            train_ds,
            validation_data=valid_ds,
            epochs=epochs,
            steps_per_epoch=steps,
            shuffle=False,  # SliceBatches shuffles, by seed and epoch
            callbacks=all_callbacks,
            verbose=0,
        )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
        restore_distribution()
    # EarlyStopping restored the best weights into net; last_model.keras holds the last epoch.
    stopped_by_time = budget.stopped_after if budget else None
    record.update(
        completed=stopped_by_time is None,  # a budget stop keeps backup/: the same call continues the run
        global_batch_size=global_batch,
        replicas=replicas,
        mixed_precision=use_mp,
        backend=keras.backend.backend(),
        seconds=time.perf_counter() - t0,
        stopped_by_time=stopped_by_time,
    )
    write_json(history_path, record)
    return {**record, **paths}


#: Settings of how a call runs, not of what it trains: a run resumes across a change of these.
RUN_CONTROL = ("max_minutes", "workers", "resume")
#: Compared even when a saved config lacks them: a history written before liverlib kept the
#: dataset's fingerprint cannot show it trained on today's slices, so it trains anew.
ALWAYS_COMPARED = ("dataset_fingerprint",)


def _read_history(path: Path) -> dict:
    """The saved history, or {} when there is none or it cannot be read (the run then starts over)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _changed_settings(old: dict, new: dict) -> list[str]:
    """The training settings (not ``RUN_CONTROL``) that differ between a saved run's config and this call's.

    A setting the saved config lacks counts as unchanged (a newer liverlib's setting at its
    default), but for ``ALWAYS_COMPARED``: a history without a ``dataset_fingerprint`` cannot show
    it trained on today's slices, so that one counts as changed.

    Compared as JSON, the form the history keeps (a tuple and a list of the same values are the same).
    """
    if not old:  # no saved run: nothing to compare with
        return []
    as_json = lambda v: json.loads(json.dumps(v, default=str))  # noqa: E731
    return sorted(
        k for k, v in new.items()
        if k not in RUN_CONTROL and (k in old or k in ALWAYS_COMPARED) and as_json(old.get(k)) != as_json(v)
    )


def add_arguments(parser) -> None:
    """Add the ``train`` command's options to an argparse parser."""
    parser.add_argument("--dataset-root", required=True, help="slice dataset folder (data/processed/<dataset>/<size>)")
    parser.add_argument("--run-dir", required=True, help="output folder (outputs/runs/<run_id>)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16, help="per replica")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--base-filters", type=int, default=16)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--tumor-class-weight", type=float, default=5.0)
    parser.add_argument("--cancer-loss-weight", type=float, default=0.5)
    parser.add_argument("--tumor-fraction", type=float, default=0.4,
                        help="share of each epoch drawn from slices with tumor (0: plain shuffling)")
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation")
    parser.add_argument("--flip-prob", type=float, default=0.0, help="left-right flips (off: see liverlib.augment)")
    parser.add_argument("--patience", type=int, default=8, help="early-stopping patience (epochs)")
    parser.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop after the epoch that leaves less than a mean epoch of this budget")
    parser.add_argument("--workers", type=int, default=1, help="batch-reading threads")
    parser.add_argument("--devices", type=lambda text: [d.strip() for d in text.split(",") if d.strip()], default=None,
                        help="devices to train on, data parallel when two or more, e.g. /gpu:0,/gpu:1 "
                             "(TensorFlow) or gpu:0,gpu:1 (JAX); default every GPU")
    parser.add_argument("--restart", action="store_true", help="ignore an interrupted run and start over")


def run(args) -> int:
    """Run the ``train`` command from parsed arguments; returns the exit status."""
    mp = {"auto": "auto", "on": True, "off": False}[args.mixed_precision]
    result = train_model(
        args.dataset_root,
        args.run_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        depth=args.depth,
        base_filters=args.base_filters,
        dropout=args.dropout,
        tumor_class_weight=args.tumor_class_weight,
        tumor_fraction=args.tumor_fraction or None,
        cancer_loss_weight=args.cancer_loss_weight,
        augment=not args.no_augment,
        flip_prob=args.flip_prob,
        early_stopping_patience=args.patience,
        mixed_precision=mp,
        max_minutes=args.max_minutes,
        devices=args.devices,
        workers=args.workers,
        resume=not args.restart,
    )
    print(f"best model: {result['best_model']}")
    again = "The same command without --restart" if args.restart else "The same command again"
    print(training_summary(result, again), flush=True)
    return 0
