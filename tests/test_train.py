import argparse
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from liverlib.slice_dataset import SliceSplit, load_split, read_manifest, save_split, write_manifest  # noqa: E402
from liverlib.train import SliceBatches, add_arguments, run, train_model  # noqa: E402

S = 32
TINY = dict(epochs=3, batch_size=4, depth=2, base_filters=4, verbose=False)


def make_dataset(root, n=12, seed=0):
    """Bright disk = liver; a darker small disk = tumor in every other slice."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:S, :S]
    for split in ("train", "valid"):
        images = np.zeros((n, S, S, 2), np.float32)
        masks = np.zeros((n, S, S), np.uint8)
        cancer = np.zeros(n, np.uint8)
        for i in range(n):
            cy, cx = rng.uniform(12, 20, 2)
            r = rng.uniform(7, 10)
            d2 = (yy - cy) ** 2 + (xx - cx) ** 2
            masks[i][d2 < r * r] = 1
            images[i][d2 < r * r] = 0.7
            if i % 2:
                masks[i][d2 < (r / 3) ** 2] = 2
                images[i][d2 < (r / 3) ** 2] = 0.35
                cancer[i] = 1
        images = np.clip(images + rng.normal(0, 0.03, images.shape), 0, 1)
        case = np.array([f"case{i % 3}" for i in range(n)])
        save_split(root, split, SliceSplit(images, masks, cancer, np.arange(n) % 3, case, np.arange(n, dtype=np.int32)))
    write_manifest(root, {"image_size": S, "spacing_mm": 2.0, "windows": [[60, 400], [60, 150]],
                          "splits": {"train": ["case0", "case1", "case2"], "valid": []}})
    return Path(root)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("ds"))


def test_batches_pure_function_of_seed_epoch_batch(dataset):
    data = load_split(dataset, "train")
    ds = SliceBatches(data, 5, shuffle=True, seed=3, augment=None, infinite=True)
    assert len(ds) == 3 and ds.num_batches is None
    epoch0 = np.concatenate([ds.indices(0, b) for b in range(3)])
    assert sorted(epoch0) == list(range(12))  # each sample once per epoch
    assert not np.array_equal(epoch0, np.concatenate([ds.indices(1, b) for b in range(3)]))
    resumed = SliceBatches(data, 5, shuffle=True, seed=3, augment=None, infinite=True, start_epoch=1)
    x1, y1 = ds[4]  # epoch 1, batch 1
    x2, y2 = resumed[1]
    np.testing.assert_array_equal(x1["image"], x2["image"])
    np.testing.assert_array_equal(y1["seg"], y2["seg"])
    # images travel as stored (float16, half the bytes); the trainer casts them in the step
    assert x1["image"].dtype == np.float16 and y1["cancer"].shape == (5, 1)


def test_batches_divide_over_the_devices(dataset):
    data = load_split(dataset, "valid")  # 12 slices
    whole = SliceBatches(data, 10)
    assert [len(whole[i][0]["image"]) for i in range(len(whole))] == [10, 2]
    split = SliceBatches(data, 10, batch_multiple=5)  # the last 2 cannot split over 5 devices
    assert split.n_used == 10 and [len(split[i][0]["image"]) for i in range(len(split))] == [10]
    assert list(split.indices(0, 0)) == list(range(10))  # validation: always the last ones left out
    train = SliceBatches(data, 10, shuffle=True, seed=1, infinite=True, batch_multiple=5)
    used = np.concatenate([train.indices(0, b) for b in range(train.len_epoch)])
    assert len(used) == 10 and len(set(used)) == 10  # two of 12 left out, none twice
    with pytest.raises(ValueError, match="multiple"):
        SliceBatches(data, 10, batch_multiple=3)
    # With oversampling and a resumed stream: batches still divide, and epoch 1 is the same either way.
    kw = dict(shuffle=True, seed=2, infinite=True, tumor_fraction=0.6, batch_multiple=5)
    first, resumed = SliceBatches(data, 10, **kw), SliceBatches(data, 10, start_epoch=1, **kw)
    sizes = [len(first.indices(e, b)) for e in range(3) for b in range(first.len_epoch)]
    assert sizes == [10] * 3  # 12 draws an epoch, the 2 that cannot split left out
    assert all(np.array_equal(first[first.len_epoch + b][0]["image"], resumed[b][0]["image"])
               for b in range(first.len_epoch))


def test_tumor_fraction_oversamples_tumor_slices(tmp_path):
    n = 40
    cancer = (np.arange(n) % 8 == 0).astype(np.uint8)  # 5 of 40 slices show tumor
    zeros = np.zeros((n, S, S), np.uint8)
    split = SliceSplit(np.zeros((n, S, S, 2), np.float32), zeros, cancer, np.zeros(n, np.uint8),
                       np.array(["c"] * n), np.arange(n, dtype=np.int32))
    ds = SliceBatches(split, 8, shuffle=True, seed=1, tumor_fraction=0.4)
    order = ds.epoch_order(0)
    assert len(order) == n and cancer[order].sum() == 16  # 40 % of the epoch
    assert set(np.flatnonzero(cancer)) <= set(order.tolist())  # every tumor slice at least once
    np.testing.assert_array_equal(order, SliceBatches(split, 8, shuffle=True, seed=1, tumor_fraction=0.4).epoch_order(0))
    assert not np.array_equal(order, ds.epoch_order(1))
    plain = SliceBatches(split, 8, shuffle=True, seed=1).epoch_order(0)
    assert sorted(plain) == list(range(n))
    np.testing.assert_array_equal(SliceBatches(split, 8, shuffle=True, seed=1, tumor_fraction=0).epoch_order(0), plain)
    # A floor: a split already rich in tumor slices is not undersampled.
    rich = SliceSplit(split.images, zeros, (np.arange(n) % 2).astype(np.uint8), split.view, split.case_id,
                      split.slice_index)
    assert sorted(SliceBatches(rich, 8, shuffle=True, seed=1, tumor_fraction=0.4).epoch_order(0)) == list(range(n))
    none = SliceSplit(split.images, zeros, np.zeros(n, np.uint8), split.view, split.case_id, split.slice_index)
    assert sorted(SliceBatches(none, 8, shuffle=True, seed=1, tumor_fraction=0.4).epoch_order(0)) == list(range(n))
    # Resuming at epoch 1 reads the same batches as the uninterrupted stream.
    stream = SliceBatches(split, 8, shuffle=True, seed=1, tumor_fraction=0.4, infinite=True)
    resumed = SliceBatches(split, 8, shuffle=True, seed=1, tumor_fraction=0.4, infinite=True, start_epoch=1)
    np.testing.assert_array_equal(stream.indices(1, 2), resumed.indices(1, 2))
    with pytest.raises(ValueError, match="tumor_fraction"):
        SliceBatches(split, 8, tumor_fraction=1.0)


def test_train_writes_outputs_and_logs_one_line_per_epoch(dataset, tmp_path, capsys):
    import shutil

    data = tmp_path / "ds"  # this run's own copy: rebuilt in place below, as 01 rebuilds a dataset
    shutil.copytree(dataset, data)
    result = train_model(data, tmp_path / "run", **{**TINY, "verbose": True})
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3 loss=")
    for key in ("val_loss=", "val_liver_dice=", "val_tumor_dice=", "val_auc=", "lr="):
        assert key in lines[-1]
    hist = result["history"]
    for key in ("loss", "val_loss", "liver_dice", "val_tumor_dice", "val_auc", "lr", "seconds",
                "validation_seconds", "checkpoint_seconds"):
        assert len(hist[key]) == 3, key
    # where the time went: validation is part of the epoch; checkpoints come after it
    assert all(0 < v < s for v, s in zip(hist["validation_seconds"], hist["seconds"]))
    assert all(c > 0 for c in hist["checkpoint_seconds"])
    assert hist["lr"][0] > hist["lr"][-1]  # cosine schedule decays
    saved = json.loads((tmp_path / "run" / "training_history.json").read_text())
    assert saved["completed"] and saved["history"]["val_loss"] == hist["val_loss"]
    assert not (tmp_path / "run" / "backup").exists()  # removed once the run completed
    best = keras.saving.load_model(result["best_model"], safe_mode=True)
    assert set(best.output) == {"seg", "cancer"}
    assert Path(result["last_model"]).exists()
    prep = json.loads((tmp_path / "run" / "preprocessing.json").read_text())
    from liverlib.saved_model import pseudonym_key

    assert prep == {"image_size": 32, "spacing_mm": 2.0, "windows": [[60, 400], [60, 150]],
                    "train_cases": ["case0", "case1", "case2"], "valid_cases": [],  # 04 refuses them as test patients
                    "pseudonym_key": pseudonym_key()}
    # a completed run is not trained again
    again = train_model(data, tmp_path / "run", **TINY)
    assert again["history"] == saved["history"]
    # ... nor is its preprocessing.json rewritten from a dataset rebuilt since: it stays the model's,
    # and 03 warns that 04 will refuse the pair.
    write_manifest(data, {**read_manifest(data), "antialias": True})
    capsys.readouterr()
    train_model(data, tmp_path / "run", **{**TINY, "verbose": True})
    assert json.loads((tmp_path / "run" / "preprocessing.json").read_text()) == prep
    assert "warning:" in capsys.readouterr().out

    from liverlib.plots_training import load_history, training_curves

    figs = training_curves(load_history(result["history_path"]))
    assert set(figs) == {"loss", "dice", "auc", "lr"}
    names = {t.name for t in figs["dice"].data}
    assert {"liver_dice (train)", "tumor_dice (valid)"} <= names
    assert len(figs["auc"].data[1].y) == 3


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt("simulated kill after epoch 1")


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory):
    """One TINY run start to end: what a cut and continued run must end with."""
    run_dir = tmp_path_factory.mktemp("full")
    return train_model(dataset, run_dir, **TINY), run_dir


def assert_same_run(reference, resumed, resumed_dir):
    """Same per-epoch history (but for seconds) and the same last weights, bit for bit."""
    full, full_dir = reference
    for key, values in full["history"].items():
        if not key.endswith("seconds"):  # timings differ run to run
            assert resumed["history"][key] == values, key
    a = keras.saving.load_model(full_dir / "last_model.keras").get_weights()
    b = keras.saving.load_model(resumed_dir / "last_model.keras").get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_result(dataset, uninterrupted, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train_model(dataset, tmp_path / "cut", callbacks=[_Interrupt()], **TINY)
    partial = json.loads((tmp_path / "cut" / "training_history.json").read_text())
    assert len(partial["history"]["loss"]) == 1 and not partial["completed"]
    resumed = train_model(dataset, tmp_path / "cut", **TINY)
    assert_same_run(uninterrupted, resumed, tmp_path / "cut")


@pytest.mark.slow
def test_time_budget_stops_and_the_same_call_continues_to_the_same_result(dataset, uninterrupted, tmp_path, capsys):
    assert uninterrupted[0]["stopped_by_time"] is None and uninterrupted[0]["completed"]
    # 0.0001 min = 6 ms: the first epoch alone takes longer, so no second one starts.
    cut = train_model(dataset, tmp_path / "cut", max_minutes=1e-4, **TINY)
    assert cut["epochs_done"] == 1 and cut["stopped_by_time"] == 1 and not cut["completed"]
    saved = json.loads((tmp_path / "cut" / "training_history.json").read_text())
    assert saved["stopped_by_time"] == 1 and len(saved["history"]["val_loss"]) == 1
    assert (tmp_path / "cut" / "best_model.keras").exists() and (tmp_path / "cut" / "backup").is_dir()
    capsys.readouterr()
    resumed = train_model(dataset, tmp_path / "cut", **TINY)  # the next lease, no budget
    assert "changed settings" not in capsys.readouterr().out  # a budget is how a call runs, not what it trains
    assert resumed["completed"] and resumed["epochs_done"] == 3 and resumed["stopped_by_time"] is None
    assert_same_run(uninterrupted, resumed, tmp_path / "cut")


@pytest.mark.slow
def test_other_settings_train_anew_whether_the_last_run_completed_or_was_cut(dataset, uninterrupted, tmp_path,
                                                                          capsys):
    """`-p epochs 20 --from 03_train` after a finished demo must train 20 epochs, not report the old run."""
    short = train_model(dataset, tmp_path / "done", **{**TINY, "epochs": 1})
    assert short["completed"] and short["epochs_done"] == 1
    capsys.readouterr()
    longer = train_model(dataset, tmp_path / "done", **TINY)
    assert "settings changed since its last training (epochs 1 -> 3): training anew" in capsys.readouterr().out
    assert longer["completed"] and longer["epochs_done"] == 3
    assert_same_run(uninterrupted, longer, tmp_path / "done")  # the same as a fresh run: nothing of the old one kept

    cut = train_model(dataset, tmp_path / "cut", max_minutes=1e-4, **{**TINY, "learning_rate": 0.01})
    assert cut["stopped_by_time"] == 1 and (tmp_path / "cut" / "backup").is_dir()
    anew = train_model(dataset, tmp_path / "cut", **TINY)  # the default learning rate: not a continuation
    assert "learning_rate 0.01 -> 0.001" in capsys.readouterr().out
    assert_same_run(uninterrupted, anew, tmp_path / "cut")


@pytest.mark.slow
def test_a_rebuilt_dataset_trains_anew(tmp_path, capsys):
    """A cohort written again (a newer phantom generator, another split) must not find its old model done."""
    root = make_dataset(tmp_path / "ds")
    write_manifest(root, {**read_manifest(root), "fingerprint": "first build"})
    done = train_model(root, tmp_path / "run", **{**TINY, "epochs": 1})
    assert done["completed"] and json.loads((tmp_path / "run" / "training_history.json").read_text())[
        "config"]["dataset_fingerprint"] == "first build"
    capsys.readouterr()
    train_model(root, tmp_path / "run", **{**TINY, "epochs": 1, "verbose": True})  # same slices: nothing to do
    out = capsys.readouterr().out
    assert "run already completed" in out and "training anew" not in out

    write_manifest(root, {**read_manifest(root), "fingerprint": "second build"})
    train_model(root, tmp_path / "run", **{**TINY, "epochs": 1, "verbose": True})
    out = capsys.readouterr().out
    assert "(dataset_fingerprint 'first build' -> 'second build'): training anew" in out
    assert "run already completed" not in out

    history = tmp_path / "run" / "training_history.json"  # a history of a liverlib that kept no fingerprint
    record = json.loads(history.read_text())
    del record["config"]["dataset_fingerprint"]
    history.write_text(json.dumps(record))
    train_model(root, tmp_path / "run", **{**TINY, "epochs": 1, "verbose": True})
    assert "(dataset_fingerprint None -> 'second build'): training anew" in capsys.readouterr().out


def test_cli_arguments(dataset, tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--dataset-root", str(dataset), "--run-dir", str(tmp_path / "cli"), "--epochs", "1",
         "--depth", "2", "--base-filters", "4", "--batch-size", "6", "--mixed-precision", "off",
         "--max-minutes", "5", "--workers", "2", "--devices", "/cpu:0"]
    )
    assert parser.parse_args(["--dataset-root", "d", "--run-dir", "r", "--devices", "gpu:0, gpu:1"]).devices == [
        "gpu:0", "gpu:1"]
    assert args.flip_prob == 0.0 and not args.no_augment
    assert run(args) == 0
    record = json.loads((tmp_path / "cli" / "training_history.json").read_text())
    assert record["config"]["batch_size"] == 6 and record["epochs_done"] == 1
    assert record["config"]["max_minutes"] == 5 and record["config"]["workers"] == 2
    assert record["config"]["devices"] == ["/cpu:0"] and record["replicas"] == 1  # one device: no distribution


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
def test_one_training_step_on_jax(tmp_path):
    code = textwrap.dedent(
        """
        import numpy as np, keras
        assert keras.backend.backend() == "jax"
        from liverlib.augment import AugmentConfig, sample_params
        from liverlib.losses import make_losses, make_metrics
        from liverlib.model import build_unet
        from liverlib.train import AugmentedTrainer
        keras.utils.set_random_seed(0)
        net = build_unet(32, 2, depth=1, base_filters=4)
        trainer = AugmentedTrainer(net)
        loss, weights = make_losses()
        trainer.compile(optimizer="adam", loss=loss, loss_weights=weights, metrics=make_metrics())
        rng = np.random.default_rng(0)
        x = {"image": rng.random((4, 32, 32, 2)).astype("float32"),
             "aug": sample_params(4, 32, AugmentConfig(), 0)}
        y = {"seg": rng.integers(0, 3, (4, 32, 32)).astype("int32"),
             "cancer": np.array([[0], [1], [0], [1]], "float32")}
        before = [w.copy() for w in net.get_weights()]
        logs = trainer.train_on_batch(x, y, return_dict=True)
        assert np.isfinite(logs["loss"]), logs
        assert any(not np.array_equal(a, b) for a, b in zip(before, net.get_weights()))
        net.save("m.keras")
        keras.saving.load_model("m.keras", safe_mode=True)
        print("JAX_OK", sorted(logs))
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "JAX_OK" in proc.stdout and "seg_tumor_dice" in proc.stdout


_SETUP_TWO_DEVICES = {
    # Two host devices stand in for two GPUs: the same data-parallel code path.
    # replicas_of(variable): how many devices hold a copy of a trained weight.
    "tensorflow": """
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        def replicas_of(variable):
            return len(getattr(variable.value, "values", [variable.value]))  # a MirroredVariable has one per device
        distribution_left = None  # MirroredStrategy is a scope: nothing global to put back
    """,
    "jax": """
        import keras
        devices = keras.distribution.list_devices("cpu")
        def replicas_of(variable):
            return len(variable.value.sharding.device_set)
        def distribution_left():
            return keras.distribution.distribution() is not None
    """,
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_training_on_two_devices_is_data_parallel(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} not installed")
    # 11 slices per split: the last validation batch (5) does not divide over two devices.
    dataset = make_dataset(tmp_path / "ds", n=11)
    code = textwrap.dedent(_SETUP_TWO_DEVICES[backend]) + textwrap.dedent(
        f"""
        import json, sys
        import numpy as np, keras
        from liverlib.slice_dataset import load_split
        from liverlib.train import train_model
        assert keras.backend.backend() == {backend!r} and len(devices) == 2, devices
        class Probe(keras.callbacks.Callback):  # where the weights live while training
            seen = []
            def on_train_batch_end(self, batch, logs=None):
                Probe.seen.append(min(replicas_of(v) for v in self.model.trainable_variables))
        out = train_model({str(dataset)!r}, "run", devices=devices, epochs=2, batch_size=3, depth=2,
                          base_filters=4, mixed_precision=False, verbose=False, callbacks=[Probe()])
        assert distribution_left is None or not distribution_left()  # JAX: the global distribution is put back
        model = keras.saving.load_model("run/best_model.keras")  # loads outside the strategy
        images = load_split({str(dataset)!r}, "valid").images[:4]
        seg = np.asarray(model.predict(images, verbose=0)["seg"])
        print("RESULT", json.dumps({{"replicas": out["replicas"], "global": out["global_batch_size"],
              "loss": out["history"]["loss"], "val_loss": out["history"]["val_loss"], "copies": Probe.seen,
              "seg_sums": np.sum(seg, axis=-1).round(3).tolist()[0][0][:3]}}))
        """
    )
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    # Batch 3 per replica: 6 per step; 11 slices per split, in batches of 6 and 4 (one left out).
    assert result["replicas"] == 2 and result["global"] == 6
    assert result["copies"] == [2] * 4  # 2 steps an epoch, every weight on both devices at each
    assert len(result["loss"]) == 2 and np.all(np.isfinite(result["loss"] + result["val_loss"]))
    assert result["seg_sums"] == [1.0, 1.0, 1.0]  # a softmax per pixel: the saved model works
    history = json.loads((tmp_path / "run" / "training_history.json").read_text())
    assert history["replicas"] == 2 and len(history["config"]["devices"]) == 2


def test_an_empty_validation_split_is_named_with_its_cause(tmp_path):
    from liverlib.errors import DatasetError

    root = make_dataset(tmp_path / "ds", n=4)
    empty = load_split(root, "valid")
    save_split(root, "valid", SliceSplit(*(a[:0] for a in (empty.images, empty.masks, empty.cancer, empty.view,
                                                            empty.case_id, empty.slice_index))))
    with pytest.raises(DatasetError, match=r"valid: the valid split has no slices: the patient split put no study"):
        train_model(root, tmp_path / "run", epochs=1, batch_size=2, depth=2, base_filters=4)
