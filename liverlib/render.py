"""CT slices as pictures: HU windowing, label overlays, PNG encoding.

One palette and one set of helpers for every image the workbook shows: the
02 montage, sliders and ipywidgets viewer (:mod:`liverlib.figures_explore`,
:mod:`liverlib.viewer`), the 04 prediction viewers (:mod:`liverlib.viewer_eval`)
and the ``overlay.png`` of ``predict``. A label is blended in filled (liver
green, tumor red); a reference label, where there is one to compare with, is
outlined (liver cyan, tumor yellow), so misses and false alarms show at a
glance. Needs only numpy, scipy and PIL.
"""

from __future__ import annotations

import base64
import io

import numpy as np

LIVER_RGB = (46, 204, 113)
TUMOR_RGB = (231, 76, 60)
#: Outline colours of a reference label, by label value (liver, tumor).
REFERENCE_RGB = {1: (0, 230, 230), 2: (255, 230, 0)}
#: The same classes in plotly charts (histograms, bars).
CLASS_COLORS = {"body": "#7f8c8d", "liver": "#2ecc71", "tumor": "#e74c3c", "cancer": "#e74c3c", "no cancer": "#3498db"}


def window_grey(hu: np.ndarray, level: float = 60.0, width: float = 400.0) -> np.ndarray:
    """HU to 8-bit grey through one window.

    Args:
        hu: HU values, any shape.
        level: Window centre in HU (60 for the abdomen).
        width: Window width in HU (400 for the abdomen, 150 for the liver).

    Returns:
        uint8 grey: level 60 width 400 maps -140 HU to 0 and 260 HU to 255.
    """
    low = level - width / 2.0
    grey = (np.asarray(hu, np.float32) - low) * (255.0 / max(float(width), 1e-3))
    return np.clip(grey, 0, 255).astype(np.uint8)


def overlay_labels(grey: np.ndarray, label: np.ndarray | None = None, *, liver: bool = True, tumor: bool = True,
                   opacity: float = 0.4) -> np.ndarray:
    """A grey slice as RGB with liver and tumor blended in.

    Args:
        grey: ``(H, W)`` uint8 grey (:func:`window_grey`).
        label: ``(H, W)`` 0/1/2 or None.
        liver: Blend liver in green (label 1; label 2 too when ``tumor`` is off).
        tumor: Blend tumor (label 2) in red, over the grey (not over green).
        opacity: Overlay weight, 0 (invisible) to 1 (opaque).

    Returns:
        uint8 ``(H, W, 3)``.
    """
    rgb = np.repeat(np.asarray(grey)[..., None], 3, axis=-1).astype(np.float32)
    if label is not None and opacity > 0:
        a = float(np.clip(opacity, 0.0, 1.0))
        # Tumor blends with the grey alone: red over green turned brown and hid small lesions.
        liver_mask = label == 1 if tumor else label >= 1
        for show, mask, color in ((liver, liver_mask, LIVER_RGB), (tumor, label == 2, TUMOR_RGB)):
            if show and mask.any():
                rgb[mask] = (1 - a) * rgb[mask] + a * np.asarray(color, np.float32)
    return np.rint(rgb).astype(np.uint8)


def render_slice(hu: np.ndarray, label: np.ndarray | None = None, *, level: float = 60.0, width: float = 400.0,
                 liver: bool = True, tumor: bool = True, opacity: float = 0.4) -> np.ndarray:
    """One HU slice as an RGB image with liver and tumor blended in.

    Args:
        hu: ``(H, W)`` HU, e.g. liver about 110 HU.
        label: ``(H, W)`` 0/1/2 or None.
        level: Window level in HU (60 for the abdomen).
        width: Window width in HU (400 for the abdomen, 150 for the liver).
        liver, tumor, opacity: As for :func:`overlay_labels`.

    Returns:
        uint8 ``(H, W, 3)``.
    """
    return overlay_labels(window_grey(hu, level, width), label, liver=liver, tumor=tumor, opacity=opacity)


def outline_labels(rgb: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Draw the edges of a reference label onto an RGB slice (liver cyan, tumor yellow).

    Args:
        rgb: uint8 ``(H, W, 3)``, e.g. from :func:`overlay_labels`.
        reference: ``(H, W)`` 0/1/2; liver's outline is that of liver and tumor together.

    Returns:
        A new uint8 ``(H, W, 3)``.
    """
    from scipy import ndimage as ndi

    out = np.array(rgb, np.uint8, copy=True)
    for value, color in REFERENCE_RGB.items():
        mask = reference >= value
        out[mask & ~ndi.binary_erosion(mask)] = color
    return out


def png_bytes(rgb: np.ndarray, size: int | None = None, *, scale: int = 1, compress_level: int = 1) -> bytes:
    """Encode an image as PNG, optionally enlarged (nearest neighbour).

    Args:
        rgb: uint8 ``(H, W, 3)`` (or ``(H, W)``).
        size: Resize to ``size`` x ``size`` pixels (a square slice).
        scale: Or enlarge ``scale`` times (ignored when ``size`` is given).
        compress_level: zlib level, 1 (fast: interactive viewers) to 9 (small).

    Returns:
        The PNG file's bytes.
    """
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb))
    target = (size, size) if size else (image.width * scale, image.height * scale)
    if target != image.size:
        image = image.resize(target, Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def png_data_uri(rgb: np.ndarray, size: int | None = None, **kwargs) -> str:
    """:func:`png_bytes` as a ``data:image/png;base64,...`` URI (for ``go.Image(source=...)``)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb, size, **kwargs)).decode("ascii")
