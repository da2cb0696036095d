"""The full profile without Jupyter: decode, train, calibrate and evaluate, timed.

Runs the same library calls as notebooks 01, 03 and 04 with a profile's
parameters (``configs/full.yaml`` by default) and prints each stage's time and
the headline figures, so a GPU server without the Jupyter stack can run the
GPU profile and say how long each step takes. ``--max-train-minutes`` (default:
the profile's ``max_minutes``) stops training when another epoch would not fit
in the budget (``train_model``'s ``max_minutes``), so the run fits a fixed
lease; the history records where, and the same command run again (with a new
``--finish-by``) continues the training from there.

Usage::

    KERAS_BACKEND=jax python benchmarks/full_profile.py --data-root /tmp/full --workers 12
    python benchmarks/full_profile.py --profile demo --data-root /tmp/demo   # the CPU profile, same calls
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]



def keyword_args(function, params: dict, skip=("workers",)) -> dict:
    """The profile parameters ``function`` takes, as the runner hands each notebook the ones it declares.

    ``workers`` is the decoding's in a profile; this script sets both kinds of workers itself.
    """
    import inspect

    accepted = inspect.signature(function).parameters
    return {k: v for k, v in params.items() if k in accepted and k not in skip}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", help="a profile in configs/ (default: full)")
    parser.add_argument("--data-root", default="data", help="holds raw/, interim/ and processed/")
    parser.add_argument("--run-dir", default=None, help="default: outputs/runs/<profile>-profile")
    parser.add_argument("--workers", type=int, default=0, help="decoding processes (0: all cores)")
    parser.add_argument("--train-workers", type=int, default=4, help="batch-reading threads of training")
    parser.add_argument("--max-train-minutes", type=float, default=None,
                        help="training time budget (default: the profile's max_minutes; 0: none)")
    parser.add_argument("--finish-by", type=float, default=None,
                        help="Unix time by which everything should end: training gets what decoding left, "
                             "less --reserve-minutes")
    parser.add_argument("--reserve-minutes", type=float, default=3.0,
                        help="kept for calibration and evaluation (training can overrun its budget by an epoch "
                             "plus its setup: keep that here too)")
    parser.add_argument("--out", default=None, help="also write the summary JSON here")
    args = parser.parse_args(argv)

    # Decoding forks worker processes: do it before Keras starts the backend's threads.
    from liverlib import cohort_pipeline
    from liverlib.runner import load_profile

    params = load_profile(args.profile, ROOT / "configs")["parameters"]
    run_dir = Path(args.run_dir or ROOT / "outputs" / "runs" / f"{args.profile}-profile")
    data_root = Path(args.data_root)
    dataset = params["dataset"]
    dataset_root = data_root / "processed" / dataset / str(params["image_size"])
    interim_dir = data_root / "interim" / dataset
    seconds = {}

    t = time.perf_counter()
    cohort = cohort_pipeline.prepare_cohort(
        data_root=data_root, workers=args.workers,
        **keyword_args(cohort_pipeline.prepare_cohort, params, skip=("workers", "data_root")),
    )
    seconds["decode_and_dataset"] = time.perf_counter() - t
    counts = cohort.manifest["counts"]
    print(f"cohort: {cohort.decode_status}; slices train {counts['train']['n']}, valid {counts['valid']['n']}, "
          f"test {counts['test']['n']}; {seconds['decode_and_dataset']:.0f} s", flush=True)

    import keras

    from liverlib import calibrate, evaluate
    from liverlib.evaluation_result import headline
    from liverlib.train import accelerators, train_model

    # --max-train-minutes, else the profile's max_minutes (0 or absent: none); --finish-by may shorten it.
    budget = args.max_train_minutes if args.max_train_minutes is not None else (params.get("max_minutes") or None)
    if args.finish_by:
        left = (args.finish_by - time.time()) / 60 - args.reserve_minutes
        budget = max(0.5, min(budget or left, left))
    gpus = accelerators()
    print(f"training budget: {f'{budget:.1f} min' if budget else 'none'}", flush=True)
    print(f"backend {keras.backend.backend()}, accelerators: {[str(g) for g in gpus] or 'none'}", flush=True)
    t = time.perf_counter()
    trained = train_model(dataset_root, run_dir, workers=args.train_workers, max_minutes=budget,
                          **keyword_args(train_model, params, skip=("workers", "max_minutes")))
    seconds["training"] = time.perf_counter() - t
    def median(key):
        values = sorted(trained["history"].get(key, []))
        return values[len(values) // 2] if values else float("nan")

    print(f"training: best epoch {trained['best_epoch']} of {trained['epochs_done']} "
          f"(stopped by time after {trained.get('stopped_by_time')}), {seconds['training']:.0f} s; per epoch "
          f"(median) {median('seconds'):.1f} s, of which validation {median('validation_seconds'):.1f} s, "
          f"then checkpoints {median('checkpoint_seconds'):.1f} s; the run's first epoch (compiles) "
          f"{trained['history'].get('seconds', [float('nan')])[0]:.1f} s; mixed precision {trained['mixed_precision']}, "
          f"global batch {trained['global_batch_size']}", flush=True)

    t = time.perf_counter()
    calibration = calibrate.calibrate_run(run_dir, dataset_root, interim_dir, progress=False)
    seconds["calibration"] = time.perf_counter() - t
    t = time.perf_counter()
    result = evaluate.evaluate_run(run_dir, dataset_root, interim_dir, split="test", progress=False,
                                   batch_size=int(params.get("batch_size", 16)),
                                   max_cases=int(params.get("max_cases", 6)))
    seconds["evaluation"] = time.perf_counter() - t
    figures = headline(result.metrics)
    for name, row in figures.items():
        print(f"{name:10s} liver Dice {row['liver_dice']:.3f}  tumor Dice {row['tumor_dice']:.3f}  "
              f"cancer AUC {row['cancer_auc']:.3f}  ({row.get('n_slices', '')} slices)", flush=True)
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()), flush=True)
    summary = {
        "profile": args.profile, "backend": keras.backend.backend(), "accelerators": [str(g) for g in gpus],
        "seconds": seconds, "epochs_done": trained["epochs_done"], "best_epoch": trained["best_epoch"],
        "stopped_by_time": trained.get("stopped_by_time"), "tumor_threshold": calibration.get("tumor_threshold"),
        "headline": figures, "counts": counts,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1, default=str))
    return summary


if __name__ == "__main__":
    main()
