"""Build the three-view slice dataset from the interim cache, study by study.

``build_slice_dataset(interim_dir, out_root)`` reads ``cases.csv`` (its
``split`` column says where each patient goes) and one ``<case_id>.npz`` at a
time: each study becomes an ``(S, S, S)`` cube (:mod:`liverlib.views`; by
default the box around its reference liver, :mod:`liverlib.liver_box`), its
chosen axial, coronal and sagittal slices are windowed and written as small
chunk files in ``<out_root>/.build/``, and at the end the chunks of each split
are concatenated into memory-mapped arrays and saved with the slice dataset
contract (:mod:`liverlib.slice_dataset`, atomic per split, ``manifest.json``
last). So a cohort larger than RAM is never held whole: peak memory is one
study plus one slice batch.

Slice selection, per study and view:

* every ``slice_stride``-th slice that contains liver (label 1 or 2), counted
  from the first liver slice, so near-duplicate neighbours are thinned;
* plus ``liver_free_fraction`` of the liver-free slices that show body (max
  above -500 HU), after the same stride, drawn at random with a seed derived
  from ``seed``, the study's row in ``cases.csv`` (its source order, the same in
  every checkout) and the view; adding or removing a study moves the rows after
  it, and so their draws;
* ``cancer`` is 1 when any tumor pixel (label 2) is in the slice's mask.

The manifest holds a fingerprint of the inputs (cases.csv, each npz's size and
modification time) and of every parameter; a rebuild with the same
fingerprint is skipped unless ``force``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from liverlib.cube import AIR_HU, BODY_THRESHOLD_HU, DEFAULT_IMAGE_SIZE, DEFAULT_SPACING_MM, to_cube
from liverlib.errors import DatasetError
from liverlib.interim import load_case, read_cases
from liverlib.liver_box import CROPS, LIVER_MARGIN_MM, dataset_grid
from liverlib.slice_dataset import (
    SPLITS,
    VIEWS,
    SliceSplit,
    count_split,
    read_manifest,
    save_split,
    write_manifest,
)
from liverlib.splits import check_disjoint
from liverlib.views import (
    CONTEXT_STEP,
    DEFAULT_WINDOWS,
    input_channels,
    parse_window,
    slice_inputs,
    view_slices,
)

#: Bumped when the way slices are made changes, so old datasets are rebuilt.
FORMAT = "liverlib-slices/4"  # 3: HU blurred before sampling a coarser cube (cube.to_cube); 4: studies in source order
#: HU blurred before sampling a coarser cube (``cube.to_cube``); recorded in the manifest.
ANTIALIAS = True
DEFAULT_LIVER_FREE_FRACTION = 0.25
DEFAULT_SLICE_STRIDE = 2
#: Slices windowed per step (keeps the float32 temporaries small).
BATCH = 64


def select_slices(
    label_stack: np.ndarray,
    hu_stack: np.ndarray,
    *,
    liver_free_fraction: float = DEFAULT_LIVER_FREE_FRACTION,
    slice_stride: int = DEFAULT_SLICE_STRIDE,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Choose the slices of one view of one study.

    Args:
        label_stack: ``(N, S, S)`` uint8 labels of the view's slices.
        hu_stack: ``(N, S, S)`` HU of the same slices (to skip air-only ones).
        liver_free_fraction: Share of the body slices without liver to keep,
            0 to 1 (0.25 keeps one in four, at random).
        slice_stride: Keep every n-th slice (1 keeps all).
        rng: Random generator for the liver-free draw.

    Returns:
        Sorted int indices into the stack.
    """
    if slice_stride < 1:
        raise ValueError(f"slice_stride must be >= 1, got {slice_stride}")
    if not 0.0 <= liver_free_fraction <= 1.0:
        raise ValueError(f"liver_free_fraction must be in [0, 1], got {liver_free_fraction}")
    rng = rng if rng is not None else np.random.default_rng(0)
    n = label_stack.shape[0]
    liver = label_stack.reshape(n, -1).max(axis=1) > 0
    body = hu_stack.reshape(n, -1).max(axis=1) > BODY_THRESHOLD_HU
    first = int(np.argmax(liver)) if liver.any() else 0
    on_stride = (np.arange(n) - first) % slice_stride == 0
    chosen = np.flatnonzero(liver & on_stride)
    free = np.flatnonzero(~liver & body & on_stride)
    n_free = int(round(liver_free_fraction * len(free)))
    picked = rng.choice(free, size=n_free, replace=False) if n_free else free[:0]
    return np.sort(np.concatenate([chosen, picked]))


def _case_rng(seed: int, case_index: int, view: str) -> np.random.Generator:
    # Keyed by the study's place in cases.csv (its source order), not by its
    # salted case id, so every checkout draws the same slices.
    return np.random.default_rng([seed, case_index, VIEWS.index(view)])


def slices_of_case(
    volume,
    *,
    image_size: int,
    spacing_mm: float,
    windows,
    views,
    liver_free_fraction: float,
    slice_stride: int,
    seed: int,
    case_index: int = 0,
    context_slices: int = 0,
    context_step: int = CONTEXT_STEP,
    crop: str = "body",
    liver_margin_mm: float = LIVER_MARGIN_MM,
) -> dict:
    """Chosen slices of one labelled study, all views together.

    ``seed`` and ``case_index`` (the study's row in ``cases.csv``) seed the
    draw of liver-free slices.

    The slices are cut from the study's body cube (``crop="body"``) or from
    the box around its reference liver (``crop="liver"``,
    :func:`liverlib.liver_box.dataset_grid`).

    Returns:
        Arrays ``images`` float16 (n, S, S, C), ``masks``, ``cancer``, ``view``,
        ``slice_index``, ready for a chunk file.
    """
    grid = dataset_grid(volume, spacing_mm, image_size, crop, liver_margin_mm)
    cube_hu = to_cube(volume.hu, grid, order=1, fill=AIR_HU, antialias=ANTIALIAS)
    cube_label = to_cube(volume.label, grid, order=0, fill=0, dtype=np.uint8)
    parts = {name: [] for name in ("images", "masks", "cancer", "view", "slice_index")}
    for view in views:
        hu_stack, label_stack = view_slices(cube_hu, view), view_slices(cube_label, view)
        index = select_slices(
            label_stack, hu_stack, liver_free_fraction=liver_free_fraction,
            slice_stride=slice_stride, rng=_case_rng(seed, case_index, view),
        )
        masks = label_stack[index]
        channels = input_channels(len(windows), context_slices)
        images = np.empty((len(index), image_size, image_size, channels), np.float16)
        for start in range(0, len(index), BATCH):
            images[start : start + BATCH] = slice_inputs(
                hu_stack, index[start : start + BATCH], windows, context_slices, context_step
            )
        parts["images"].append(images)
        parts["masks"].append(masks)
        parts["cancer"].append((masks.reshape(len(index), -1) == 2).any(axis=1).astype(np.uint8))
        parts["view"].append(np.full(len(index), VIEWS.index(view), np.uint8))
        parts["slice_index"].append(index.astype(np.int32))
    return {name: np.concatenate(arrays) for name, arrays in parts.items()}


def fingerprint(interim_dir: Path, rows: list[dict], params: dict) -> str:
    """Hash of cases.csv, each case file's size and mtime, and the parameters."""
    digest = hashlib.sha256(FORMAT.encode())
    digest.update((interim_dir / "cases.csv").read_bytes())
    for row in sorted(rows, key=lambda r: r["case_id"]):
        path = interim_dir / f"{row['case_id']}.npz"
        stat = path.stat() if path.exists() else None
        digest.update(f"{row['case_id']}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1};".encode())
    digest.update(json.dumps(params, sort_keys=True).encode())
    return digest.hexdigest()


def concat_chunks(chunks: list[Path], folder: Path, image_size: int, channels: int) -> SliceSplit:
    """Concatenate chunk ``.npz`` files into memory-mapped ``.npy`` arrays in ``folder``."""
    sizes, case_ids = [], []
    for chunk in chunks:
        with np.load(chunk, allow_pickle=False) as data:
            sizes.append(int(data["cancer"].shape[0]))
        case_ids.append(chunk.name.split("__", 1)[1].removesuffix(".npz"))
    n = int(sum(sizes))
    folder.mkdir(parents=True, exist_ok=True)
    shapes = {
        "images": ((n, image_size, image_size, channels), np.float16),
        "masks": ((n, image_size, image_size), np.uint8),
        "cancer": ((n,), np.uint8),
        "view": ((n,), np.uint8),
        "slice_index": ((n,), np.int32),
    }
    arrays = {
        name: np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
        for name, (shape, dtype) in shapes.items()
    }
    start = 0
    for chunk, size in zip(chunks, sizes):
        with np.load(chunk, allow_pickle=False) as data:
            for name, array in arrays.items():
                array[start : start + size] = data[name]
        start += size
    width = max([len(c) for c in case_ids] + [1])
    case_id = np.repeat(np.asarray(case_ids, dtype=f"<U{width}"), sizes) if chunks else np.zeros(0, f"<U{width}")
    return SliceSplit(case_id=case_id, **arrays)


def build_slice_dataset(
    interim_dir: str | Path,
    out_root: str | Path,
    *,
    image_size: int = DEFAULT_IMAGE_SIZE,
    spacing_mm: float = DEFAULT_SPACING_MM,
    windows=DEFAULT_WINDOWS,
    views=VIEWS,
    liver_free_fraction: float = DEFAULT_LIVER_FREE_FRACTION,
    slice_stride: int = DEFAULT_SLICE_STRIDE,
    context_slices: int = 0,
    crop: str = "liver",
    liver_margin_mm: float = LIVER_MARGIN_MM,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Build (or skip when up to date) the slice dataset of a decoded cohort.

    Args:
        interim_dir: ``data/interim/<dataset>`` with ``cases.csv`` (split
            column filled) and ``<case_id>.npz`` files.
        out_root: ``data/processed/<dataset>/<size>``.
        image_size: Slice side S in pixels, e.g. 128.
        spacing_mm: Isotropic resampling step before the body cube, mm.
        windows: HU ``(level, width)`` per channel; (60, 400) maps -140..260 HU to 0..1.
        views: Any of ``axial``, ``coronal``, ``sagittal``.
        liver_free_fraction: Share of liver-free body slices kept (0..1).
        slice_stride: Keep every n-th slice to thin near-duplicates.
        context_slices: 2.5D input: neighbours each side as extra channels
            (``views.slice_inputs``); 0 for plain 2D slices.
        crop: ``liver`` cuts the slices from a cube around each study's
            reference liver (about 1.6 mm pixels at 128 px on the demo cohort;
            :mod:`liverlib.liver_box`), ``body`` from the whole body cube
            (about 2.8 mm pixels).
        liver_margin_mm: Margin around the liver of that box, mm.
        seed: Seed of the liver-free draw.
        force: Rebuild even when the fingerprint matches.
        progress: Show a tqdm bar over the studies.

    Returns:
        The manifest (also written as ``manifest.json``), with ``counts`` per
        split (``n``, ``cases``, ``cancer`` and per view ``n``/``cancer``),
        ``failures`` (case id and reason of studies skipped) and ``skipped_build``
        True when the existing dataset was up to date.
    """
    interim_dir, out_root = Path(interim_dir), Path(out_root)
    windows = [[float(level), float(width)] for level, width in windows]
    views = [str(v) for v in views]
    if int(context_slices) < 0:
        raise ValueError(f"context_slices must be 0 (2D) or more, got {context_slices}")
    for view in views:
        if view not in VIEWS:
            raise ValueError(f"views must be among {VIEWS}, got {view!r}")
    params = {
        "image_size": int(image_size), "spacing_mm": float(spacing_mm), "windows": windows, "views": views,
        "liver_free_fraction": float(liver_free_fraction), "slice_stride": int(slice_stride), "seed": int(seed),
        "context_slices": int(context_slices), "context_step": CONTEXT_STEP,
        "crop": str(crop), "liver_margin_mm": float(liver_margin_mm), "antialias": ANTIALIAS,
    }
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    rows = read_cases(interim_dir)
    if not rows:
        raise DatasetError(interim_dir / "cases.csv", "missing or empty: decode the cohort first")
    by_split: dict[str, list[str]] = {split: [] for split in SPLITS}
    for row in rows:
        if row.get("split") not in SPLITS:
            raise DatasetError(
                interim_dir / "cases.csv", f"case {row['case_id']} has split {row.get('split')!r}, expected one of {SPLITS}"
            )
        by_split[row["split"]].append(row["case_id"])
    check_disjoint(by_split, where=str(interim_dir / "cases.csv"))
    digest = fingerprint(interim_dir, rows, params)
    if not force and (out_root / "manifest.json").exists():
        old = read_manifest(out_root)
        if old.get("fingerprint") == digest and all((out_root / s / "images.npy").exists() for s in SPLITS):
            return {**old, "skipped_build": True}

    work = out_root / ".build"
    shutil.rmtree(work, ignore_errors=True)
    (work / "chunks").mkdir(parents=True)
    from tqdm.auto import tqdm

    chunks: dict[str, list[Path]] = {split: [] for split in SPLITS}
    failures = []
    # cases.csv's order (the sources'), which fixes the arrays' order and each study's draw.
    position = {row["case_id"]: i for i, row in enumerate(rows)}
    ordered = [(split, case) for split in SPLITS for case in by_split[split]]
    for split, case in tqdm(ordered, desc="slicing studies", unit="study", disable=not progress, file=sys.stderr):
        path = interim_dir / f"{case}.npz"
        try:
            volume = load_case(path)
            if volume.label is None:
                raise DatasetError(path, "has no label: the slice dataset needs liver/tumor masks")
            arrays = slices_of_case(
                volume, image_size=image_size, spacing_mm=spacing_mm, windows=windows, views=views,
                liver_free_fraction=liver_free_fraction, slice_stride=slice_stride, seed=seed,
                case_index=position[case], context_slices=context_slices, context_step=CONTEXT_STEP, crop=crop, liver_margin_mm=liver_margin_mm,
            )
        except Exception as err:  # one bad study never stops the cohort
            failures.append({"case_id": case, "split": split, "reason": f"{type(err).__name__}: {err}"})
            continue
        chunk = work / "chunks" / f"{split}__{case}.npz"
        np.savez(chunk, **arrays)
        chunks[split].append(chunk)

    counts = {}
    for split in SPLITS:
        data = concat_chunks(chunks[split], work / split, image_size, input_channels(len(windows), context_slices))
        save_split(out_root, split, data)
        counts[split] = count_split(data)
        del data  # release the memory maps before the folder goes
    shutil.rmtree(work, ignore_errors=True)
    manifest = {
        "format": FORMAT,
        "source": {"kind": "interim", "name": interim_dir.name},
        **params,
        "channels": input_channels(len(windows), context_slices),
        "view_names": list(VIEWS),
        "splits": {split: sorted(c for c in by_split[split] if c not in {f["case_id"] for f in failures}) for split in SPLITS},
        "counts": counts,
        "failures": failures,
        "fingerprint": digest,
    }
    write_manifest(out_root, manifest)
    return {**manifest, "skipped_build": False}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m liverlib build-dataset``."""
    parser.add_argument("--interim", required=True, help="interim cache folder, e.g. data/interim/phantoms")
    parser.add_argument("--out", required=True, help="output folder, e.g. data/processed/phantoms/128")
    parser.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE, help="slice side in pixels")
    parser.add_argument("--spacing-mm", type=float, default=DEFAULT_SPACING_MM, help="isotropic resampling step (mm)")
    parser.add_argument(
        "--window", action="append", type=parse_window, metavar="LEVEL,WIDTH",
        help="HU window per channel, repeatable (default: 60,400 and 60,150)",
    )
    parser.add_argument("--views", nargs="+", choices=VIEWS, default=list(VIEWS), help="views to slice")
    parser.add_argument(
        "--liver-free-fraction", type=float, default=DEFAULT_LIVER_FREE_FRACTION,
        help="share of liver-free body slices kept (0..1)",
    )
    parser.add_argument("--slice-stride", type=int, default=DEFAULT_SLICE_STRIDE, help="keep every n-th slice")
    parser.add_argument("--context-slices", type=int, default=0,
                        help="2.5D input: neighbour slices each side as extra channels (0: 2D)")
    parser.add_argument("--crop", choices=CROPS, default="liver",
                        help="cut the slices from a box around the liver (finer pixels) or the whole body")
    parser.add_argument("--liver-margin-mm", type=float, default=LIVER_MARGIN_MM, help="margin of the liver box (mm)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the liver-free slice draw")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")


def run(args: argparse.Namespace) -> int:
    """Run ``build-dataset`` from parsed arguments; prints the counts."""
    manifest = build_slice_dataset(
        args.interim, args.out, image_size=args.image_size, spacing_mm=args.spacing_mm,
        windows=args.window or DEFAULT_WINDOWS, views=args.views, liver_free_fraction=args.liver_free_fraction,
        slice_stride=args.slice_stride, context_slices=args.context_slices, crop=args.crop,
        liver_margin_mm=args.liver_margin_mm, seed=args.seed, force=args.force,
    )
    state = "up to date" if manifest["skipped_build"] else "built"
    print(f"{args.out}: {state}")
    for split in SPLITS:
        c = manifest["counts"][split]
        per_view = ", ".join(f"{v} {c[v]['n']} ({c[v]['cancer']} cancer)" for v in VIEWS)
        print(f"  {split}: {c['n']} slices from {c['cases']} cases; {per_view}")
    for failure in manifest["failures"]:
        print(f"  skipped {failure['case_id']}: {failure['reason']}", file=sys.stderr)
    return 0
