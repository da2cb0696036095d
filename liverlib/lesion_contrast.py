"""How much darker or brighter than the liver beside it each slice's tumor is, in HU.

A lesion is seen on CT by its contrast to the liver around it against the
noise: a colorectal metastasis 40-60 HU darker than portal venous liver
(100-130 HU) is seen at a glance, a hepatocellular carcinoma close to the
liver's HU in its phase, or a lesion as bright as the enhanced vessels beside
it, is not. :func:`tumor_contrast` measures it per slice from the model's own
input (the first window, where it is not clipped), so 04 can rank the slices
with tumor of each contrast against every tumor-free slice
(``cancer_misses.cancer_by_group``), as it does by tumor size: a miss among
clearly hypodense lesions is the model's, one among lesions of the liver's HU
is partly the image's.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Group edges of :func:`contrast_groups` in HU (tumor minus the liver beside it):
#: clearly darker, darker, about the liver's (within 10 HU, less than one noise
#: SD of a 256-matrix abdominal CT), brighter.
CONTRAST_EDGES = (-30.0, -10.0, 10.0)
#: Width in pixels of the ring of liver around the tumor that is its background
#: (3 px: about 6 mm at the demo's 1.9 mm liver-box pixels).
RING_PX = 3


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


def tumor_contrast(images: np.ndarray, masks: np.ndarray, window, ring_px: int = RING_PX,
                   chunk: int = 256) -> np.ndarray:
    """Mean HU of each slice's reference tumor minus that of the liver in a ring around it.

    Args:
        images: ``(N, S, S, C)`` model inputs in [0, 1] (may be a memory map);
            channel 0 is the slice through ``window``.
        masks: ``(N, S, S)`` reference labels 0/1/2.
        window: ``(level, width)`` of channel 0 (the manifest's first window).
        ring_px: Ring width in pixels.
        chunk: Slices read at a time.

    Returns:
        ``(N,)`` float32 HU, e.g. -45.0 for a metastasis in portal venous
        liver; NaN for a slice without tumor or without liver beside its tumor.
    """
    out = np.full(len(masks), np.nan, np.float32)
    ring_shape = ndimage.generate_binary_structure(2, 1)
    for start in range(0, len(masks), chunk):
        labels = np.asarray(masks[start : start + chunk])
        for k in np.nonzero((labels == 2).any(axis=(1, 2)))[0]:
            tumor = labels[k] == 2
            ring = ndimage.binary_dilation(tumor, ring_shape, iterations=ring_px) & (labels[k] == 1)
            if not ring.any():
                continue
            hu = hu_from_window(images[start + k, ..., 0], window)
            out[start + k] = hu[tumor].mean() - hu[ring].mean()
    return out


def contrast_groups(contrast: np.ndarray, cancer_true: np.ndarray, edges=CONTRAST_EDGES) -> dict:
    """Slices with tumor grouped by :func:`tumor_contrast`.

    Args:
        contrast: ``(N,)`` HU per slice, NaN where it has none.
        cancer_true: ``(N,)`` 0/1, 1 where the slice holds tumor.
        edges: Increasing group edges in HU.

    Returns:
        Group name -> ``(N,)`` bool mask over the slices with tumor, e.g.
        ``"under -30 HU"``, ``"-30 to -10 HU"``, ``"10 HU or more"``, and
        ``"no liver beside it"`` where the tumor has no liver in its ring
        (a lesion that fills the liver's cut, or bulges out of it); the
        groups cover the slices with tumor once each.
    """
    c = np.asarray(contrast, float)
    y = np.asarray(cancer_true).astype(bool)
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
    groups["no liver beside it"] = y & ~np.isfinite(c)
    return groups
