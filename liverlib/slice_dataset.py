"""The slice dataset on disk: the contract between decoding and training.

Layout of ``data/processed/<dataset>/<size>/``::

    manifest.json            image size, channels (HU windows, context_slices), spacing, counts,
                             crop ("liver": cut from the box around each reference liver,
                             ``liver_box.dataset_grid``; "body" or absent: the body cube)
    <split>/images.npy       float16 (N, S, S, C), windowed HU scaled to [0, 1]: the slice
                             through each window, then (2.5D, ``context_slices`` k) its 2k
                             neighbours through the narrowest window (``views.slice_inputs``)
    <split>/masks.npy        uint8 (N, S, S): 0 background, 1 liver, 2 tumor
    <split>/cancer.npy       uint8 (N,): 1 when any tumor pixel is in the slice
    <split>/view.npy         uint8 (N,): 0 axial, 1 coronal, 2 sagittal
    <split>/case_id.npy      unicode (N,): the study pseudonym
    <split>/slice_index.npy  int32 (N,): index of the slice along its view axis (of the cube the
                             manifest's crop names)

Splits are ``train``, ``valid`` and ``test``. Every array is a plain ``.npy``
file, so it loads with ``allow_pickle=False`` and can be memory-mapped: a
dataset larger than RAM is read batch by batch, never whole.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liverlib.atomic import write_json
from liverlib.errors import DatasetError

SPLITS = ("train", "valid", "test")
VIEWS = ("axial", "coronal", "sagittal")
ARRAYS = {
    "images": np.float16,
    "masks": np.uint8,
    "cancer": np.uint8,
    "view": np.uint8,
    "case_id": None,  # unicode, width set by the data
    "slice_index": np.int32,
}


@dataclass
class SliceSplit:
    """One split of the slice dataset (arrays may be memory-mapped).

    Args:
        images: (N, S, S, C) float16 in [0, 1].
        masks: (N, S, S) uint8 labels 0/1/2.
        cancer: (N,) uint8, tumor present in the slice.
        view: (N,) uint8, 0 axial, 1 coronal, 2 sagittal.
        case_id: (N,) study pseudonyms.
        slice_index: (N,) int32 slice position along the view axis.
    """

    images: np.ndarray
    masks: np.ndarray
    cancer: np.ndarray
    view: np.ndarray
    case_id: np.ndarray
    slice_index: np.ndarray

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def check(self, where: str | Path = "<memory>") -> None:
        """Raise DatasetError when the arrays break the contract."""
        n = len(self)
        if self.images.ndim != 4 or self.images.shape[1] != self.images.shape[2]:
            raise DatasetError(where, f"images must be (N, S, S, C), got {self.images.shape}")
        if self.masks.shape != self.images.shape[:3]:
            raise DatasetError(where, f"masks {self.masks.shape} do not match images {self.images.shape}")
        for name in ("cancer", "view", "case_id", "slice_index"):
            if getattr(self, name).shape != (n,):
                raise DatasetError(where, f"{name} must have shape ({n},), got {getattr(self, name).shape}")
        if n and int(np.max(self.masks)) > 2:
            raise DatasetError(where, f"mask values must be 0/1/2, found {int(np.max(self.masks))}")


def split_dir(root: str | Path, split: str) -> Path:
    return Path(root) / split


def save_split(root: str | Path, split: str, data: SliceSplit) -> Path:
    """Write one split atomically: into ``<split>.tmp``, then rename.

    Args:
        root: ``data/processed/<dataset>/<size>``.
        split: One of ``train``, ``valid``, ``test``.
        data: The arrays to write.

    Returns:
        The split's folder.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    data.check(split_dir(root, split))
    final = split_dir(root, split)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, dtype in ARRAYS.items():
        array = getattr(data, name)
        array = np.asarray(array, dtype=dtype) if dtype is not None else np.asarray(array, dtype=str)
        np.save(tmp / f"{name}.npy", array, allow_pickle=False)
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_split(root: str | Path, split: str, mmap: bool = True) -> SliceSplit:
    """Load one split without pickle, memory-mapped by default.

    Args:
        root: ``data/processed/<dataset>/<size>``.
        split: One of ``train``, ``valid``, ``test``.
        mmap: Map the image and mask arrays instead of reading them.

    Returns:
        The split; raises DatasetError naming the file when one is missing.
    """
    folder = split_dir(root, split)
    arrays = {}
    for name in ARRAYS:
        path = folder / f"{name}.npy"
        if not path.exists():
            raise DatasetError(path, "missing; build the slice dataset (01_decode, or python -m liverlib build-dataset ...)")
        mode = "r" if mmap and name in ("images", "masks") else None
        arrays[name] = np.load(path, mmap_mode=mode, allow_pickle=False)
    data = SliceSplit(**arrays)
    data.check(folder)
    return data


def write_manifest(root: str | Path, manifest: dict) -> Path:
    """Write ``manifest.json`` atomically."""
    return write_json(Path(root) / "manifest.json", manifest, sort_keys=True)


def read_manifest(root: str | Path) -> dict:
    """The slice dataset's ``manifest.json``.

    Args:
        root: ``data/processed/<dataset>/<size>``.

    Returns:
        The manifest: ``image_size``, ``spacing_mm``, ``windows``, ``channels``,
        ``context_slices``, ``crop``, ``counts`` per split and view, ``splits``
        (case ids), ``failures`` and the build ``fingerprint``. Raises
        ``DatasetError`` naming the file when it is missing.
    """
    path = Path(root) / "manifest.json"
    if not path.exists():
        raise DatasetError(path, "missing; build the slice dataset (01_decode, or python -m liverlib build-dataset ...)")
    return json.loads(path.read_text())


def count_split(data: SliceSplit) -> dict:
    """Counts per view and per class, for the manifest and the notebooks."""
    view = np.asarray(data.view)
    cancer = np.asarray(data.cancer)
    counts = {"n": len(data), "cases": int(len(np.unique(np.asarray(data.case_id))))}
    for v, name in enumerate(VIEWS):
        sel = view == v
        counts[name] = {"n": int(sel.sum()), "cancer": int(cancer[sel].sum())}
    counts["cancer"] = int(cancer.sum())
    return counts
