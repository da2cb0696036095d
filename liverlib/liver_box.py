"""The liver box: a second, finer cube around the liver (a two-pass cascade).

The body cube (:func:`liverlib.cube.study_grid`) must hold a whole abdomen,
300-420 mm, so at 128 px a pixel is 2.2-3.3 mm (median 2.8 mm on the demo
cohort) and a 5-10 mm lesion is a handful of pixels. A cube around the liver
with its margin is 205-220 mm: 1.6-1.7 mm pixels (most at the 1.6 mm floor; 1.6-2.2 mm, median
1.9, for the larger livers of the cohorts before the stomach fix of 2026-11-30), about 1.7 times finer, three times
the pixels per lesion.
Cascaded liver-then-lesion networks (nnU-Net's cascade, the LiTS winners) work
this way; here one model does both passes:

1. the body cube goes through the model as before, and the largest connected
   component of its fused liver gives the liver's bounding box;
2. the box, widened by ``margin_mm``, becomes a cube of its own
   (:func:`liver_box_grid`), never finer than ``spacing_mm`` (a small liver
   keeps ``spacing_mm`` pixels and more surroundings), and goes through the model
   again; inside it, this second pass is the result.

The slice dataset of a ``crop="liver"`` build is cut from the same box,
placed on the *reference* liver, so the model learns that finer scale; on the
demo cohort it still finds the liver on the coarser body cube (3D liver Dice
0.958 from the body cube alone, test split).

A liver box is a :class:`~liverlib.cube.StudyGrid` like the body cube (only
``body_box``, ``cube_start`` and ``cube_side`` differ), so
:func:`~liverlib.cube.to_cube` and :func:`~liverlib.cube.to_study_grid` work
on it unchanged.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage as ndi

from liverlib.cube import DEFAULT_IMAGE_SIZE, DEFAULT_SPACING_MM, StudyGrid, study_grid
from liverlib.volume import Volume

#: Crops of the slice dataset: the whole body, or the box around the liver.
CROPS = ("body", "liver")
#: Added on every side of the liver's bounding box: room for an imperfect first
#: pass and for the context a lesion at the liver's surface needs.
LIVER_MARGIN_MM = 10.0


def mask_box_mm(mask: np.ndarray, spacing) -> tuple[np.ndarray, np.ndarray] | None:
    """Bounding box of a study-grid mask, in mm from voxel ``[0, 0, 0]``'s centre.

    Args:
        mask: Boolean ``(z, y, x)``, e.g. ``label > 0`` (liver and tumor).
        spacing: ``(dz, dy, dx)`` mm.

    Returns:
        ``(lo_mm, hi_mm)`` (voxel centres, inclusive), or None for an empty mask.
    """
    found = ndi.find_objects(np.asarray(mask).astype(np.uint8))
    if not found or found[0] is None:
        return None
    box = found[0]
    spacing = np.asarray(spacing, float)
    lo = np.array([s.start for s in box], float)
    hi = np.array([s.stop - 1 for s in box], float)
    return lo * spacing, hi * spacing


def cube_box_mm(grid: StudyGrid, cube_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Bounding box of a mask given in ``grid``'s cube, in study mm (as :func:`mask_box_mm`).

    A cube voxel covers ``cube_side / size`` resampled voxels; the box spans
    all of them, so it is never smaller than the mask.
    """
    found = ndi.find_objects(np.asarray(cube_mask).astype(np.uint8))
    if not found or found[0] is None:
        return None
    box = found[0]
    ratio = grid.cube_side / grid.size
    start = np.asarray(grid.cube_start, float)
    lo = start + np.array([s.start for s in box]) * ratio
    hi = start + np.array([s.stop for s in box]) * ratio - 1
    return lo * grid.spacing_mm, hi * grid.spacing_mm


def liver_box_grid(grid: StudyGrid, lo_mm, hi_mm, margin_mm: float = LIVER_MARGIN_MM) -> StudyGrid:
    """The cube around a box (the liver's), on the same resampled grid as ``grid``.

    Args:
        grid: The study's body grid (:func:`~liverlib.cube.study_grid`).
        lo_mm, hi_mm: The box, mm from the study's voxel ``[0, 0, 0]``.
        margin_mm: Added on every side, e.g. 10 mm.

    Returns:
        A StudyGrid with the same ``size``: side ``max(box extent,
        min(size, body cube side))`` resampled voxels (pixels of
        ``spacing_mm`` for a box up to ``size * spacing_mm``, e.g. 205 mm;
        coarser for a larger one, and only coarser than the body cube when
        the box with its margin is larger than the body), centred on the box;
        parts beyond the study are padding as in the body cube.
    """
    step = grid.spacing_mm
    lo = np.floor((np.asarray(lo_mm, float) - margin_mm) / step).astype(int)
    hi = np.ceil((np.asarray(hi_mm, float) + margin_mm) / step).astype(int)
    extent = hi - lo + 1
    # Never finer than the resampling step, nor than the body cube (a small body may already be).
    side = int(max(extent.max(), min(grid.size, grid.cube_side)))
    start = lo - (side - extent) // 2
    return dataclasses.replace(
        grid, body_box=tuple((int(a), int(b)) for a, b in zip(lo, hi)),
        cube_start=tuple(int(s) for s in start), cube_side=side,
    )


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 6-connected component of a boolean mask (all False when empty)."""
    labels, n = ndi.label(mask)
    if n == 0:
        return np.zeros(mask.shape, bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def locate_liver(grid: StudyGrid, cube_label: np.ndarray, margin_mm: float = LIVER_MARGIN_MM):
    """The liver box of a first pass: its label cube's largest liver+tumor component.

    Args:
        grid: The grid of ``cube_label`` (the body cube).
        cube_label: ``(S, S, S)`` labels 0/1/2 of the first pass.
        margin_mm: Margin of the box.

    Returns:
        ``(box_grid, (lo_mm, hi_mm))``: the liver box grid and the liver's own
        bounding box (no margin), or None when the first pass found no liver.
    """
    box = cube_box_mm(grid, largest_component(cube_label > 0))
    return None if box is None else (liver_box_grid(grid, *box, margin_mm=margin_mm), box)


def dataset_grid(volume: Volume, spacing_mm: float = DEFAULT_SPACING_MM, image_size: int = DEFAULT_IMAGE_SIZE,
                 crop: str = "body", margin_mm: float = LIVER_MARGIN_MM) -> StudyGrid:
    """The cube a labelled study's training slices are cut from.

    Args:
        volume: The study with its reference ``label``.
        spacing_mm: Isotropic resampling step, e.g. 1.6 mm.
        image_size: Cube side ``S``, e.g. 128.
        crop: ``body`` (the body cube) or ``liver`` (the box around the
            reference liver and tumors; the body cube when the label is empty).
        margin_mm: Margin of the liver box.

    Returns:
        The StudyGrid.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    grid = study_grid(volume, spacing_mm, image_size)
    if crop == "body" or volume.label is None:
        return grid
    box = mask_box_mm(volume.label > 0, volume.spacing)
    return grid if box is None else liver_box_grid(grid, *box, margin_mm=margin_mm)


def resample_between(cube: np.ndarray, source: StudyGrid, target: StudyGrid, *, order: int = 1,
                     fill: float = 0.0) -> np.ndarray:
    """Move a cube (e.g. a tumor probability) from one grid of a study to another.

    Both grids share the resampled grid (same study and ``spacing_mm``), so
    the map is one scale and offset per axis: ``source_index = scale *
    target_index + offset``.

    Args:
        cube: ``(S, S, S)`` or ``(S, S, S, K)`` in ``source``'s cube.
        source, target: Grids of the same study.
        order: 1 (linear) for probabilities, 0 (nearest) for labels.
        fill: Value where ``target`` reaches beyond ``source``.

    Returns:
        float32 ``(S', S', S'[, K])`` in ``target``'s cube.
    """
    ratio_s, ratio_t = source.cube_side / source.size, target.cube_side / target.size
    scale = np.full(3, ratio_t / ratio_s)
    offset = (np.asarray(target.cube_start, float) - np.asarray(source.cube_start, float)
              + 0.5 * ratio_t - 0.5 * ratio_s) / ratio_s
    channels = cube.reshape(cube.shape[:3] + (-1,))
    out = np.empty((target.size,) * 3 + (channels.shape[-1],), np.float32)
    for c in range(channels.shape[-1]):
        ndi.affine_transform(
            np.ascontiguousarray(channels[..., c], np.float32), scale, offset=offset, output=out[..., c],
            output_shape=(target.size,) * 3, order=order, mode="constant", cval=float(fill), prefilter=False,
        )
    return out[..., 0] if cube.ndim == 3 else out
