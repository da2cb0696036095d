"""Import a 2D image-folder dataset (slices as PNG/JPEG) into the slice dataset.

Accepted layout (``src`` is the dataset folder)::

    src/<split>/images/<name>.png|.jpg|.jpeg   the slice, grey or RGB (8 or 16 bit)
    src/<split>/masks/<name>.png               one label image per slice, or ...
    src/<split>/liver_masks/<name>.png         ... a liver mask and
    src/<split>/tumor_masks/<name>.png         ... a tumor mask per slice
    src/<split>/labels.csv                     one row per image

* ``<split>`` is ``train``, ``valid`` and ``test`` (``val`` and ``validation``
  are read as ``valid``); ``train`` must exist, a missing ``valid`` or ``test``
  becomes an empty split. The given splits are kept as they are.
* A mask has the image's stem (``images/ct_0001.jpg`` pairs with
  ``masks/ct_0001.png``) and the image's width and height. Masks are read as
  grey levels (a palette PNG by its palette index): a label image with only
  0/1/2 is used as is; otherwise it must be 0/127/255 (or 0/128/255, each
  value within 40 of a level, for JPEG noise): below 64 is background, 64-191
  liver, 192 and above tumor. Other values are refused. In ``liver_masks/`` and
  ``tumor_masks/`` any value above 127 is inside; tumor wins over liver. A
  ``tumor_masks/`` file may be absent for a slice without tumor.
* ``labels.csv`` has a header with columns ``image`` (file name in
  ``images/``, with or without extension), ``cancer`` (0/1, or
  true/false/yes/no), and optionally ``view`` (axial, coronal, sagittal, or
  0/1/2; transverse = axial; default axial), ``case_id`` (patient pseudonym;
  when given, no patient may be in two splits; default: the image stem) and
  ``slice_index`` (default: the row's position among its case's images).
* Every image must have exactly one CSV row and its mask(s), and vice versa.
  By default (``cancer_source="check"``) the CSV's cancer value must agree with
  the mask (any tumor pixel = 1); ``"mask"`` or ``"csv"`` trust one side.

Images become ``image_size`` squares: padded to square (black, centred), then
resized with PIL (bilinear for images, nearest for masks), scaled to [0, 1]
(8-bit / 255, 16-bit / 65535) and stored as ``channels`` channels (1: grey,
3: RGB; a grey image is repeated). Problems raise DatasetError naming the file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from liverlib.errors import DatasetError
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

FORMAT = "liverlib-image-folder/1"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLIT_ALIASES = {"train": ("train",), "valid": ("valid", "val", "validation"), "test": ("test",)}
VIEW_NAMES = {"axial": 0, "transverse": 0, "coronal": 1, "sagittal": 2, "0": 0, "1": 1, "2": 2}
#: Grey-level masks may be off 0/127/255 by this much (JPEG noise), no more.
LEVEL_TOLERANCE = 40
TRUE_FALSE = {"1": 1, "0": 0, "true": 1, "false": 0, "yes": 1, "no": 0}


def _find(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def _stems(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def _read_rows(split_dir: Path) -> list[dict]:
    path = split_dir / "labels.csv"
    if not path.is_file():
        raise DatasetError(path, "missing: each split needs labels.csv with columns image, cancer[, view]")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip().lower() for c in (reader.fieldnames or [])]
        for needed in ("image", "cancer"):
            if needed not in columns:
                raise DatasetError(path, f"no {needed!r} column (found {columns})")
        rows = []
        for line, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
            cancer = TRUE_FALSE.get(row["cancer"].lower())
            if cancer is None:
                raise DatasetError(path, f"line {line}: cancer must be 0/1, got {row['cancer']!r}")
            view = VIEW_NAMES.get((row.get("view") or "axial").lower())
            if view is None:
                raise DatasetError(path, f"line {line}: view must be axial, coronal or sagittal, got {row['view']!r}")
            stem = Path(row["image"]).stem if Path(row["image"]).suffix.lower() in IMAGE_SUFFIXES else row["image"]
            rows.append({
                "line": line, "stem": stem, "cancer": cancer, "view": view,
                "case_id": row.get("case_id") or stem, "explicit_case": bool(row.get("case_id")),
                "slice_index": row.get("slice_index") or "",
            })
    return rows


def _load_pixels(path: Path, channels: int) -> np.ndarray:
    """(H, W, channels) float32 in [0, 1]."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(img, np.float32) / 65535.0
                array = np.repeat(array[..., None], channels, axis=-1)
            else:
                array = np.asarray(img.convert("L" if channels == 1 else "RGB"), np.float32) / 255.0
                array = array[..., None] if array.ndim == 2 else array
    except OSError as err:
        raise DatasetError(path, f"cannot read image ({err})") from err
    return np.clip(array, 0.0, 1.0)


def _load_grey(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            # A palette PNG stores the label as the palette index: keep the index.
            return np.asarray(img if img.mode == "P" else img.convert("L"), np.uint8)
    except OSError as err:
        raise DatasetError(path, f"cannot read mask ({err})") from err


def _mask_of(split_dir: Path, stem: str, size: tuple[int, int]) -> np.ndarray:
    """uint8 label (H, W) 0/1/2 from masks/ or liver_masks/ + tumor_masks/."""
    single = _find(split_dir / "masks", stem)
    liver = _find(split_dir / "liver_masks", stem)
    if single is None and liver is None:
        raise DatasetError(split_dir / "masks" / f"{stem}.png", "missing: no mask (masks/ or liver_masks/) for this image")
    parts = [(single, "label")] if single is not None else [(liver, "liver")]
    tumor = _find(split_dir / "tumor_masks", stem) if single is None else None
    if tumor is not None:
        parts.append((tumor, "tumor"))
    label = np.zeros(size, np.uint8)
    for path, kind in parts:
        grey = _load_grey(path)
        if grey.shape != size:
            raise DatasetError(path, f"mask is {grey.shape[1]}x{grey.shape[0]} but its image is {size[1]}x{size[0]}")
        if kind == "label":
            label = grey.copy() if grey.max() <= 2 else _grey_levels(grey, path)
        else:
            label[grey > 127] = 1 if kind == "liver" else 2
    return label


def _grey_levels(grey: np.ndarray, path: Path) -> np.ndarray:
    """0/127/255 (give or take JPEG noise) -> 0/1/2; anything else is refused."""
    values = np.unique(grey)
    off = values[np.min(np.abs(values[:, None] - np.array([0.0, 127.5, 255.0])), axis=1) > LEVEL_TOLERANCE]
    if off.size:
        raise DatasetError(
            path, f"mask values must be 0/1/2 or 0/127/255, found {values[:8].tolist()}"
            f"{' ...' if values.size > 8 else ''}",
        )
    return np.digitize(grey, [64, 192]).astype(np.uint8)


def _square(array: np.ndarray, image_size: int, resample: str) -> np.ndarray:
    """Pad (H, W[, C]) to a centred square with zeros, then resize to image_size with PIL."""
    from PIL import Image

    h, w = array.shape[:2]
    side = max(h, w)
    padded = np.zeros((side, side) + array.shape[2:], array.dtype)
    top, left = (side - h) // 2, (side - w) // 2
    padded[top : top + h, left : left + w] = array
    if side == image_size:
        return padded
    method = Image.Resampling.NEAREST if resample == "nearest" else Image.Resampling.BILINEAR
    if padded.ndim == 2:
        return np.asarray(Image.fromarray(padded).resize((image_size, image_size), method))
    # Float channels one by one in mode "F" so no 8-bit rounding happens.
    return np.stack(
        [np.asarray(Image.fromarray(padded[..., c], mode="F").resize((image_size, image_size), method))
         for c in range(padded.shape[-1])],
        axis=-1,
    )


def _split_dirs(src: Path) -> dict[str, Path | None]:
    found = {}
    for split, names in SPLIT_ALIASES.items():
        dirs = [src / n for n in names if (src / n).is_dir()]
        if len(dirs) > 1:
            raise DatasetError(src, f"both {dirs[0].name}/ and {dirs[1].name}/ exist: keep one folder for the {split} split")
        found[split] = dirs[0] if dirs else None
    if found["train"] is None:
        raise DatasetError(src / "train", "missing: an image-folder dataset needs train/ (and valid/, test/)")
    return found


def _fingerprint(dirs: dict, params: dict) -> str:
    digest = hashlib.sha256(FORMAT.encode())
    for split, folder in dirs.items():
        if folder is None:
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{split}:{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    digest.update(json.dumps(params, sort_keys=True).encode())
    return digest.hexdigest()


def _import_split(
    split_dir: Path, work: Path, image_size: int, channels: int, cancer_source: str
) -> tuple[SliceSplit, list[str]]:
    """One split's arrays (memory-mapped in ``work``) and its CSV-given case ids."""
    rows = _read_rows(split_dir)
    images_on_disk = _stems(split_dir / "images")
    csv_path = split_dir / "labels.csv"
    seen = set()
    for row in rows:
        if row["stem"] in seen:
            raise DatasetError(csv_path, f"line {row['line']}: image {row['stem']!r} is listed twice")
        seen.add(row["stem"])
        if row["stem"] not in images_on_disk:
            raise DatasetError(split_dir / "images" / row["stem"], f"listed in labels.csv line {row['line']} but no such image")
    for stem, path in images_on_disk.items():
        if stem not in seen:
            raise DatasetError(path, "has no row in labels.csv")
    for sub in ("masks", "liver_masks", "tumor_masks"):
        for stem, path in _stems(split_dir / sub).items():
            if stem not in images_on_disk:
                raise DatasetError(path, f"mask without an image of the same name in {split_dir / 'images'}")
    n = len(rows)
    work.mkdir(parents=True, exist_ok=True)
    images = np.lib.format.open_memmap(work / "images.npy", mode="w+", dtype=np.float16, shape=(n, image_size, image_size, channels))
    masks = np.lib.format.open_memmap(work / "masks.npy", mode="w+", dtype=np.uint8, shape=(n, image_size, image_size))
    cancer = np.zeros(n, np.uint8)
    per_case: dict[str, int] = {}
    slice_index = np.zeros(n, np.int32)
    for i, row in enumerate(rows):
        path = images_on_disk[row["stem"]]
        pixels = _load_pixels(path, channels)
        label = _mask_of(split_dir, row["stem"], pixels.shape[:2])
        from_mask = int((label == 2).any())
        if cancer_source == "check" and from_mask != row["cancer"]:
            # A binary 0/255 liver mask in masks/ reads as all tumor: say so, it is the likelier mistake.
            binary = from_mask and not (label == 1).any() and (split_dir / "masks").is_dir()
            hint = (" (its mask in masks/ holds 0 and 255 only, and 255 means tumor there, 127 liver: "
                    "a binary liver mask belongs in liver_masks/)") if binary else ""
            raise DatasetError(
                csv_path, f"line {row['line']}: cancer={row['cancer']} but the mask of {path.name} has "
                f"{'tumor' if from_mask else 'no tumor'} pixels{hint} (use cancer_source='mask' or 'csv' to trust one)",
            )
        cancer[i] = from_mask if cancer_source == "mask" else row["cancer"]
        images[i] = _square(pixels, image_size, "bilinear")
        masks[i] = _square(label, image_size, "nearest")
        try:
            slice_index[i] = int(row["slice_index"]) if row["slice_index"] else per_case.get(row["case_id"], 0)
        except ValueError as err:
            raise DatasetError(csv_path, f"line {row['line']}: slice_index must be an integer") from err
        per_case[row["case_id"]] = per_case.get(row["case_id"], 0) + 1
    width = max([len(r["case_id"]) for r in rows] + [1])
    explicit = [r["case_id"] for r in rows if r["explicit_case"]]
    return SliceSplit(
        images=images, masks=masks, cancer=cancer,
        view=np.asarray([r["view"] for r in rows], np.uint8),
        case_id=np.asarray([r["case_id"] for r in rows], f"<U{width}"), slice_index=slice_index,
    ), explicit


def import_image_folder(
    src: str | Path,
    out_root: str | Path,
    image_size: int = 128,
    channels: int = 1,
    *,
    cancer_source: str = "check",
    force: bool = False,
) -> dict:
    """Import a train/valid/test folder of slice images and masks as a slice dataset.

    Args:
        src: The folder, in the layout of this module's docstring.
        out_root: ``data/processed/<dataset>/<size>``.
        image_size: Output side S in pixels, e.g. 128.
        channels: 1 (grey) or 3 (RGB) input channels.
        cancer_source: ``check`` (CSV and mask must agree), ``mask`` or ``csv``.
        force: Import again even when the inputs are unchanged.

    Returns:
        The manifest (also written), with counts per split, view and class.
    """
    src, out_root = Path(src), Path(out_root)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if cancer_source not in ("check", "mask", "csv"):
        raise ValueError(f"cancer_source must be check, mask or csv, got {cancer_source!r}")
    if not src.is_dir():
        raise DatasetError(src, "does not exist or is not a folder")
    dirs = _split_dirs(src)
    params = {"image_size": int(image_size), "channels": int(channels), "cancer_source": cancer_source}
    digest = _fingerprint(dirs, params)
    if not force and (out_root / "manifest.json").exists():
        old = read_manifest(out_root)
        if old.get("fingerprint") == digest and all((out_root / s / "images.npy").exists() for s in SPLITS):
            return {**old, "skipped_build": True}
    work = out_root / ".build"
    shutil.rmtree(work, ignore_errors=True)
    data, patients = {}, {}
    try:
        for split, folder in dirs.items():
            if folder is None:
                data[split] = SliceSplit(
                    images=np.zeros((0, image_size, image_size, channels), np.float16),
                    masks=np.zeros((0, image_size, image_size), np.uint8), cancer=np.zeros(0, np.uint8),
                    view=np.zeros(0, np.uint8), case_id=np.zeros(0, "<U1"), slice_index=np.zeros(0, np.int32),
                )
            else:
                data[split], patients[split] = _import_split(folder, work / split, image_size, channels, cancer_source)
        # Only case ids given in labels.csv name patients (a bare image stem does not).
        check_disjoint(patients, where=str(src))
        counts = {}
        for split, split_data in data.items():
            save_split(out_root, split, split_data)
            counts[split] = count_split(split_data)
        data.clear()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    manifest = {
        "format": FORMAT,
        "source": {"kind": "image_folder", "name": src.name, "folders": {s: (d.name if d else None) for s, d in dirs.items()}},
        **params,
        "windows": None,  # the images come already windowed
        "spacing_mm": None,
        "views": list(VIEWS),
        "view_names": list(VIEWS),
        "counts": counts,
        "failures": [],
        "fingerprint": digest,
    }
    write_manifest(out_root, manifest)
    return {**manifest, "skipped_build": False}


def add_arguments(parser) -> None:
    """Options of ``python -m liverlib import-images``."""
    parser.add_argument("--src", required=True, help="folder with train/, valid/, test/ (see liverlib.image_folder)")
    parser.add_argument("--out", required=True, help="output folder, e.g. data/processed/mydata/128")
    parser.add_argument("--image-size", type=int, default=128, help="slice side in pixels")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1, help="1 grey or 3 RGB")
    parser.add_argument(
        "--cancer-source", choices=("check", "mask", "csv"), default="check",
        help="check: labels.csv and masks must agree; mask or csv: trust one",
    )
    parser.add_argument("--force", action="store_true", help="import again even when up to date")


def run(args) -> int:
    """Run ``import-images`` from parsed arguments; prints the counts."""
    manifest = import_image_folder(
        args.src, args.out, args.image_size, args.channels, cancer_source=args.cancer_source, force=args.force,
    )
    print(f"{args.out}: {'up to date' if manifest['skipped_build'] else 'imported'}")
    for split in SPLITS:
        c = manifest["counts"][split]
        print(f"  {split}: {c['n']} slices ({c['cancer']} cancer)")
    return 0
