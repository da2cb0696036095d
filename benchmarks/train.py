"""Training throughput: real input pipeline vs bare ``fit`` on in-memory arrays.

For the demo and full model configurations at 128x128 this prints:

* images/s of training through the real pipeline (memory-mapped slice split
  on disk -> ``SliceBatches`` -> on-device augmentation -> train step);
* images/s of a bare ``model.fit`` of the same network on numpy arrays;
* their ratio (target >= 0.9: the pipeline must not starve the model; each way
  trains in turn with the others, its fastest epoch counting), and the
  ratio of the same reads without augmentation, which splits the gap between
  reading and the augmentation warps; the loader's own rate on the host;
* achieved GFLOP/s (3 x the analytic forward FLOPs of the conv/dense layers,
  ``liverlib.model.model_flops``) against a matmul in the training's compute
  dtype measured here (float16 with ``--mixed-precision``);
* the estimated accelerator memory of training the full profile, and on a
  GPU the measured peak (``device_peak_bytes``).

Usage::

    python benchmarks/train.py                      # short (about 3 min on 2 cores)
    python benchmarks/train.py --steps 20 --batch-size 32 --configs full
    # on a GPU (JAX): measured peak memory of the full profile's training
    XLA_PYTHON_CLIENT_PREALLOCATE=false KERAS_BACKEND=jax \\
        python benchmarks/train.py --configs full --batch-size 32 --mixed-precision --steps 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _profile(name: str) -> dict:
    """A profile's parameters (configs/<name>.yaml), so the benchmark follows the profiles."""
    from liverlib.runner import load_profile

    return load_profile(name, Path(__file__).resolve().parents[1] / "configs")["parameters"]


PROFILES = {name: _profile(name) for name in ("demo", "full")}
CONFIGS = {name: {"depth": int(p["depth"]), "base_filters": int(p["base_filters"])} for name, p in PROFILES.items()}


def _profile_channels(name: str = "demo") -> int:
    """Input channels of a profile: its HU windows plus 2.5D neighbours."""
    from liverlib.views import input_channels

    params = PROFILES[name]
    return input_channels(len(params["windows"]), int(params.get("context_slices", 0)))


def make_split(root, n: int, size: int, channels: int, seed: int = 0):
    """A synthetic split on disk (disks of liver and tumor), memory-mapped back."""
    from liverlib.slice_dataset import SliceSplit, load_split, save_split

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = rng.normal(0.2, 0.05, (n, size, size, channels)).astype(np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cy, cx = size * rng.uniform(0.35, 0.65, 2)
        r = size * 0.25
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        masks[i][d2 < r * r] = 1
        masks[i][d2 < (r / 4) ** 2] = 2 * (i % 2)
        images[i][masks[i] > 0] += 0.4
    split = SliceSplit(
        np.clip(images, 0, 1), masks, (np.arange(n) % 2).astype(np.uint8),
        np.arange(n) % 3, np.array(["c0"] * n), np.arange(n, dtype=np.int32),
    )
    save_split(root, "train", split)
    return load_split(root, "train", mmap=True)


class EpochTimer:
    """Wall time of each epoch (the first one includes compilation)."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times = []

            def on_epoch_begin(self, epoch, logs=None):
                self._t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter() - self._t)

        return _Timer()


def matmul_gflops(dtype: str = "float32", n: int | None = None, repeats: int = 10) -> float:
    """Matmul GFLOP/s on the Keras backend's default device, in the training's compute dtype.

    Each product is waited for (one element read back), so an asynchronous
    backend (JAX, a GPU) is timed, not just dispatched; 8192 on an accelerator
    keeps the launch overhead out of the figure. Run it after the training
    measurements: its buffers would otherwise count in the peak memory.
    """
    import keras

    n = n or (8192 if _on_accelerator() else 2048)
    a = keras.ops.cast(keras.random.normal((n, n), seed=1), dtype)
    b = keras.ops.cast(keras.random.normal((n, n), seed=2), dtype)
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b)[0, 0])  # warm-up (compilation)
    t = time.perf_counter()
    for _ in range(repeats):
        keras.ops.convert_to_numpy(keras.ops.matmul(a, b)[0, 0])
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def _on_accelerator() -> bool:
    from liverlib.train import accelerators

    return bool(accelerators())


def device_peak_bytes():
    """Peak accelerator memory of this process so far (None on CPU or when unknown).

    JAX reports its allocator's peak (run with ``XLA_PYTHON_CLIENT_PREALLOCATE=false``
    so the figure is not the preallocated pool); TensorFlow its GPU:0 peak.
    """
    import keras

    try:
        if keras.backend.backend() == "jax":
            import jax

            device = jax.devices()[0]
            return None if device.platform == "cpu" else device.memory_stats().get("peak_bytes_in_use")
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                return tf.config.experimental.get_memory_info("GPU:0")["peak"]
    except (AttributeError, KeyError, RuntimeError, ValueError):
        return None
    return None


def loader_rate(ds, steps: int) -> float:
    """Images/s that ``SliceBatches`` alone makes on this host (one thread, no model)."""
    ds[0]
    t = time.perf_counter()
    n = sum(len(ds[i][1]["seg"]) for i in range(1, steps + 1))
    return n / (time.perf_counter() - t)


def _epoch_seconds(model, data, **fit_kwargs) -> list[float]:
    """Wall time of each of two short epochs of ``model.fit``."""
    timer = EpochTimer()
    model.fit(data, epochs=2, shuffle=fit_kwargs.pop("shuffle", False), callbacks=[timer], verbose=0, **fit_kwargs)
    return timer.times


def timed_rounds(ways: dict, images_per_epoch: int, rounds: int, after_first=None) -> dict:
    """Images/s of each way to train, from its fastest epoch, the ways taking turns.

    Args:
        ways: name -> (compiled model, data, fit keyword arguments).
        images_per_epoch: images one epoch trains on (timed steps x batch).
        rounds: how many times each way trains two epochs, in turn with the others.
        after_first: called once after the first way's first turn, before any other way has
            trained (the accelerator's peak memory of that way alone is read there).

    Returns:
        name -> images/s of its fastest epoch (the very first epoch, which compiles, left out).

    The ways take turns because the 2-core VMs this runs on are shared: one bare ``fit`` ran
    its second epoch at 32 img/s and its third at 67 (2026-11-30), so measuring one way after
    the other put a slow spell on one side of the ratio only. Each way takes the same rule.
    """
    times = {name: [] for name in ways}
    for r in range(rounds):
        for name, (model, data, kwargs) in ways.items():
            seconds = _epoch_seconds(model, data, **dict(kwargs))
            times[name] += seconds[1:] if r == 0 else seconds
            if after_first is not None:
                after_first()
                after_first = None
    return {name: images_per_epoch / min(t) for name, t in times.items()}


def bench_config(name, cfg, split, args) -> dict:
    """Time one model configuration three ways; returns its figures (printed as it goes)."""
    import keras

    from liverlib.augment import AugmentConfig
    from liverlib.losses import make_losses, make_metrics
    from liverlib.model import build_unet, model_flops
    from liverlib.train import AugmentedTrainer, SliceBatches

    size, channels = split.images.shape[1], split.images.shape[3]
    keras.utils.set_random_seed(0)
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    net = build_unet(size, channels, **cfg)
    flops = model_flops(net)
    loss, weights = make_losses()

    def batches(augment):
        return SliceBatches(split, args.batch_size, shuffle=True, seed=0, augment=augment, infinite=True,
                            workers=args.workers)

    def compiled(model):
        model.compile(optimizer="adam", loss=loss, loss_weights=weights, metrics=make_metrics())
        return model

    n = args.steps * args.batch_size
    x = np.asarray(split.images[:n])  # as stored (float16), as the pipeline sends them
    y = {"seg": np.asarray(split.masks[:n], np.int32), "cancer": np.asarray(split.cancer[:n], np.float32)[:, None]}
    steps = {"steps_per_epoch": args.steps}
    ways = {
        # 1. the real pipeline: memory-mapped split, shuffled, augmented in the step.
        "pipeline": (compiled(AugmentedTrainer(net)), batches(AugmentConfig()), steps),
        # 2. the same reads without augmentation: what the reading alone costs against 3.
        "reads": (compiled(AugmentedTrainer(net)), batches(None), steps),
        # 3. bare fit of the same network on in-memory arrays (no augmentation, no reads).
        "bare": (compiled(net), x, {"y": y, "batch_size": args.batch_size, "shuffle": True}),
    }
    peak = []
    rate = timed_rounds(ways, n, args.rounds, after_first=lambda: peak.append(device_peak_bytes()))
    pipe, reads, bare = rate["pipeline"], rate["reads"], rate["bare"]
    measured = peak[0]  # the real pipeline's training alone, before the other two ways held memory
    loader = loader_rate(batches(AugmentConfig()), args.steps)
    policy = keras.config.dtype_policy().name
    keras.mixed_precision.set_global_policy("float32")

    print(
        f"{name:5s} depth={cfg['depth']} base={cfg['base_filters']} params={net.count_params():,} "
        f"fwd={flops / 1e9:.2f} GFLOP/img ({policy}) | pipeline {pipe:.1f} img/s | reads without augmentation "
        f"{reads:.1f} | bare fit {bare:.1f} | ratio {pipe / bare:.2f} (reads alone {reads / bare:.2f}) | "
        f"loader alone on the host {loader:.0f} img/s",
        flush=True,
    )
    if measured is not None:
        print(f"{name:5s} measured accelerator peak while training at batch {args.batch_size} ({policy}): "
              f"{measured / 2**30:.2f} GiB (this process so far)", flush=True)
    return {"name": name, "pipeline": pipe, "flops": flops}


def memory_report(size: int, channels: int, batch_size: int) -> None:
    from liverlib.model import build_unet, training_memory_bytes

    net = build_unet(size, channels, **CONFIGS["full"])
    for mp in (False, True):
        m = training_memory_bytes(net, batch_size, mixed_precision=mp)
        print(
            f"full profile training memory at batch {batch_size} ({'mixed_float16' if mp else 'float32'}): "
            f"params {m['param_bytes'] / 2**20:.0f} MiB + activations {m['activation_bytes'] / 2**20:.0f} MiB "
            f"= {m['total_bytes'] / 2**30:.2f} GiB (estimate, budget 4 GiB; the "
            "measured peak on a GPU is higher: see docs/gpu.md)"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["demo", "full"], choices=list(CONFIGS))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=_profile_channels(),
                        help="input channels (default: the demo profile's windows + 2.5D neighbours)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per configuration")
    parser.add_argument("--memory-batch-size", type=int, default=int(PROFILES["full"]["batch_size"]),
                        help="batch of the memory estimate (default: the full profile's)")
    parser.add_argument("--mixed-precision", action="store_true", help="train in mixed_float16 (the GPU default)")
    parser.add_argument("--workers", type=int, default=1, help="batch-reading threads of the pipeline")
    parser.add_argument("--rounds", type=int, default=2,
                        help="turns each way takes (two epochs each); its fastest epoch counts")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be at least 1")

    import keras

    print(f"backend {keras.backend.backend()}; batch {args.batch_size}, {args.steps} timed steps, {args.size}x{args.size}x{args.channels}")
    with tempfile.TemporaryDirectory() as tmp:
        split = make_split(tmp, args.steps * args.batch_size, args.size, args.channels)
        results = [bench_config(name, CONFIGS[name], split, args) for name in args.configs]
    dtype = "float16" if args.mixed_precision else "float32"
    peak = matmul_gflops(dtype)
    print(f"{dtype} matmul: {peak:.1f} GFLOP/s (the reference, measured after the models)")
    for r in results:  # 3 x the forward FLOPs per image: forward, and twice that backward
        gflops = 3 * r["flops"] * r["pipeline"] / 1e9
        print(f"{r['name']:5s} achieved {gflops:.1f} GFLOP/s through the pipeline = {100 * gflops / peak:.0f}% of the matmul")
    memory_report(args.size, args.channels, args.memory_batch_size)


if __name__ == "__main__":
    main()
