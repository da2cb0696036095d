"""How much darker or brighter than the liver beside it each slice's tumor is, in HU.

A lesion is seen on CT by its contrast to the liver around it against the
noise: a colorectal metastasis 40-60 HU darker than portal venous liver
(100-130 HU) is seen at a glance, a hepatocellular carcinoma close to the
liver's HU in its phase, or a lesion as bright as the enhanced vessels beside
it, is not. :func:`tumor_contrast` measures it per slice from the model's own
input (the widest window, on the tumor's core against liver a little away
from it, so that blur does not shrink small lesions' contrast), so 04 can
rank the slices with tumor of each contrast against every tumor-free slice
(``cancer_misses.cancer_by_group``), as it does by tumor size: a miss among
clearly hypodense lesions is the model's, one among lesions of the liver's HU
is partly the image's. Slices whose tumor is too small to measure this way
(lesion edges, lesions under about 1 cm) form a group of their own.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Group edges of :func:`contrast_groups` in HU (tumor minus the liver beside it):
#: clearly darker, darker, about the liver's (within 10 HU, less than one noise
#: SD of a 256-matrix abdominal CT), brighter.
CONTRAST_EDGES = (-30.0, -10.0, 10.0)
#: The tumor's HU is read on its core (its mask eroded by this many pixels) and
#: the liver's on a ring this many pixels away from the mask, so that neither
#: reads the other's blurred edge: measured on the whole mask and a ring next
#: to it, a -55 HU lesion blurred by 1 pixel reads -7 HU at 1 pixel, -27 at 9,
#: -43 at 193 (the contrast would then mostly say how small the lesion is).
EDGE_PX = 1  # at least 1: scipy repeats an erosion of 0 iterations until nothing changes
#: Width in pixels of the ring of liver around the tumor (beyond the gap).
RING_PX = 3
#: Fewest core pixels to measure (fewer: "too small to measure").
MIN_CORE_PX = 4
#: Largest share of core or ring pixels at the window's ends (clipped HU).
MAX_CLIPPED = 0.1
#: Why a slice with tumor has no contrast, in :func:`tumor_contrast`'s ``why``.
TOO_SMALL, NO_LIVER, CLIPPED = "too small to measure", "no liver beside it", "outside the window"


def hu_from_window(values: np.ndarray, window) -> np.ndarray:
    """Undo ``views.apply_windows`` for one channel (exact where not clipped).

    Args:
        values: Windowed values in [0, 1].
        window: ``(level, width)`` of that channel, e.g. ``(60, 400)``: 0.5 is 60 HU.

    Returns:
        float32 HU, e.g. 0.0 -> -140, 1.0 -> 260 for ``(60, 400)``.
    """
    level, width = (float(w) for w in window)
    return np.asarray(values, np.float32) * np.float32(width) + np.float32(level - width / 2)


def widest_window(windows) -> tuple[int, tuple[float, float]]:
    """The input channel of the widest window and that window (its HU clip least).

    Args:
        windows: The manifest's ``(level, width)`` pairs, channel ``k`` for window ``k``.

    Returns:
        ``(channel, (level, width))``, e.g. ``(0, (60.0, 400.0))`` for ``[[60, 400], [60, 150]]``.
    """
    k = int(np.argmax([float(w[1]) for w in windows]))
    return k, (float(windows[k][0]), float(windows[k][1]))


def tumor_contrast(images: np.ndarray, masks: np.ndarray, window, channel: int = 0, chunk: int = 256):
    """Mean HU of each slice's tumor core minus that of a ring of liver around it.

    Args:
        images: ``(N, S, S, C)`` model inputs in [0, 1] (may be a memory map).
        masks: ``(N, S, S)`` reference labels 0/1/2.
        window: ``(level, width)`` of ``channel`` (:func:`widest_window`).
        channel: Input channel holding the slice through ``window``.
        chunk: Slices read at a time.

    Returns:
        ``(contrast, why)``: ``(N,)`` float32 HU, e.g. -45.0 for a metastasis in
        portal venous liver, NaN where not measured; and ``(N,)`` str, "" where
        measured or the slice has no tumor, else :data:`TOO_SMALL` (core under
        :data:`MIN_CORE_PX`), :data:`NO_LIVER` (no liver in the ring: a lesion
        that fills the liver's cut, or bulges out of it) or :data:`CLIPPED`
        (more than :data:`MAX_CLIPPED` of its pixels at the window's ends).
    """
    contrast = np.full(len(masks), np.nan, np.float32)
    why = np.full(len(masks), "", dtype=object)
    cross = ndimage.generate_binary_structure(2, 1)
    for start in range(0, len(masks), chunk):
        labels = np.asarray(masks[start : start + chunk])
        for k in np.nonzero((labels == 2).any(axis=(1, 2)))[0]:
            tumor = labels[k] == 2
            core = ndimage.binary_erosion(tumor, cross, iterations=EDGE_PX)
            near = ndimage.binary_dilation(tumor, cross, iterations=EDGE_PX)
            ring = ndimage.binary_dilation(near, cross, iterations=RING_PX) & ~near & (labels[k] == 1)
            i = start + k
            if core.sum() < MIN_CORE_PX:
                why[i] = TOO_SMALL
                continue
            if not ring.any():
                why[i] = NO_LIVER
                continue
            values = np.asarray(images[i, ..., channel], np.float32)
            inside = np.concatenate([values[core], values[ring]])
            if np.mean((inside <= 0.0) | (inside >= 1.0)) > MAX_CLIPPED:
                why[i] = CLIPPED
                continue
            hu = hu_from_window(values, window)
            contrast[i] = hu[core].mean() - hu[ring].mean()
    return contrast, why


def contrast_groups(contrast: np.ndarray, why: np.ndarray, cancer_true: np.ndarray, edges=CONTRAST_EDGES) -> dict:
    """Slices with tumor grouped by :func:`tumor_contrast`.

    Args:
        contrast: ``(N,)`` HU per slice, NaN where not measured.
        why: ``(N,)`` why not measured (``tumor_contrast``).
        cancer_true: ``(N,)`` 0/1, 1 where the slice holds tumor.
        edges: Increasing group edges in HU.

    Returns:
        Group name -> ``(N,)`` bool mask over the slices with tumor, e.g.
        ``"under -30 HU"``, ``"-30 to -10 HU"``, ``"10 HU or more"``, then
        one group per reason a contrast was not measured (:data:`TOO_SMALL`,
        :data:`NO_LIVER`, :data:`CLIPPED`); they cover the slices with tumor
        once each.
    """
    c = np.asarray(contrast, float)
    y = np.asarray(cancer_true).astype(bool)
    why = np.asarray(why, dtype=object)
    finite = y & np.isfinite(c)
    bounds = [-np.inf, *edges, np.inf]
    groups = {}
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if not np.isfinite(lo):
            name = f"under {hi:g} HU"
        elif not np.isfinite(hi):
            name = f"{lo:g} HU or more"
        else:
            name = f"{lo:g} to {hi:g} HU"
        groups[name] = finite & (c >= lo) & (c < hi)
    for reason in (TOO_SMALL, NO_LIVER, CLIPPED):
        groups[reason] = y & ~finite & (why == reason)
    return groups
