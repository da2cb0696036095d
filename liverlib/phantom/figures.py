"""Pictures of a phantom: three views with liver/tumor outlines, HU histograms.

Display convention (``liverlib.volume``): axial ``hu[k]`` (patient right on
the image left, anterior up), coronal ``hu[::-1, j, :]``, sagittal
``hu[::-1, :, i]``, stretched along z by ``dz/dx`` so anatomy keeps its shape.
Soft-tissue window: level 40 HU, width 400 HU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

WINDOW = (40.0, 400.0)  # soft-tissue window (level, width) in HU


def default_cuts(label: np.ndarray) -> tuple[int, int, int]:
    """Axial, coronal and sagittal indices through the liver (or the centre)."""
    if not (label > 0).any():
        return tuple(n // 2 for n in label.shape)
    com = ndimage.center_of_mass(label > 0)
    return tuple(int(round(c)) for c in com)


def _views(vol: np.ndarray, k: int, j: int, i: int):
    return [vol[k], vol[::-1, j, :], vol[::-1, :, i]]


def phantom_figure(phantom, cuts: tuple[int, int, int] | None = None, window=WINDOW, bins: int = 120):
    """A plotly figure: axial, coronal, sagittal views with overlays, and HU histograms.

    Args:
        phantom: A ``Phantom`` (or anything with ``hu``, ``label``, ``spacing``).
        cuts: ``(k, j, i)`` slice indices; default through the liver's centre.
        window: ``(level, width)`` in HU, e.g. ``(40, 400)`` for soft tissue.
        bins: Histogram bins over -200..300 HU.

    Returns:
        ``plotly.graph_objects.Figure`` (never shown here).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    k, j, i = cuts or default_cuts(phantom.label)
    dz, dy, dx = phantom.spacing
    level, width = window
    fig = make_subplots(rows=1, cols=4, column_widths=[0.25, 0.25, 0.25, 0.25],
                        subplot_titles=("axial", "coronal", "sagittal", "HU per label"))
    colors = {1: "rgba(0,200,0,0.35)", 2: "rgba(255,0,0,0.6)"}
    for col, (img, lab, ratio) in enumerate(
        zip(_views(phantom.hu, k, j, i), _views(phantom.label, k, j, i), (dy / dx, dz / dx, dz / dy), strict=True),
        start=1,
    ):
        fig.add_trace(go.Heatmap(z=img, colorscale="gray", zmin=level - width / 2, zmax=level + width / 2,
                                 showscale=False, hovertemplate="%{z} HU<extra></extra>"), row=1, col=col)
        for value, color in colors.items():
            edge = (lab == value) & ~ndimage.binary_erosion(lab == value)
            overlay = np.where(edge, 1.0, np.nan)
            fig.add_trace(go.Heatmap(z=overlay, colorscale=[[0, color], [1, color]], showscale=False,
                                     hoverinfo="skip"), row=1, col=col)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{col}", scaleratio=ratio,
                         showticklabels=False, row=1, col=col)
        fig.update_xaxes(showticklabels=False, row=1, col=col)
    body = phantom.hu > -500
    for value, name, color in ((0, "body, not liver", "gray"), (1, "liver", "green"), (2, "tumor", "red")):
        sel = body & (phantom.label == value)
        if sel.any():
            vals = phantom.hu[sel]
            fig.add_trace(go.Histogram(x=vals[(vals > -200) & (vals < 300)], name=name, marker_color=color,
                                       histnorm="probability", opacity=0.6, nbinsx=bins), row=1, col=4)
    fig.update_layout(barmode="overlay", height=380, width=1400, margin=dict(l=10, r=10, t=40, b=10),
                      title=f"{phantom.case_id}: {phantom.phase}")
    return fig


def _window(img: np.ndarray, window) -> np.ndarray:
    level, width = window
    return (np.clip((img.astype(np.float32) - (level - width / 2)) / width, 0, 1) * 255).astype(np.uint8)


def save_views_png(phantom, path: str | Path, cuts=None, window=WINDOW, height: int = 360) -> Path:
    """Save the three views (top: image, bottom: with liver/tumor outlines) as a PNG, with PIL."""
    from PIL import Image

    k, j, i = cuts or default_cuts(phantom.label)
    dz, dy, dx = phantom.spacing
    tiles = []
    for img, lab, (h_mm, w_mm) in zip(
        _views(phantom.hu, k, j, i), _views(phantom.label, k, j, i),
        ((phantom.hu.shape[1] * dy, phantom.hu.shape[2] * dx), (phantom.hu.shape[0] * dz, phantom.hu.shape[2] * dx),
         (phantom.hu.shape[0] * dz, phantom.hu.shape[1] * dy)),
        strict=True,
    ):
        size = (int(round(height * w_mm / h_mm)), height) if h_mm >= w_mm * 0.9 else (height, int(round(height * h_mm / w_mm)))
        gray = _window(img, window)
        rgb = np.repeat(gray[..., None], 3, axis=2)
        over = rgb.copy()
        for value, color in ((1, (40, 220, 40)), (2, (255, 40, 40))):
            m = lab == value
            over[m & ~ndimage.binary_erosion(m)] = color
        tiles.append([Image.fromarray(a).resize(size, Image.BILINEAR) for a in (rgb, over)])
    width = sum(t[0].width for t in tiles) + 8 * (len(tiles) - 1)
    row_h = max(t[0].height for t in tiles)
    canvas = Image.new("RGB", (width, 2 * row_h + 8), (0, 0, 0))
    x = 0
    for plain, over in tiles:
        canvas.paste(plain, (x, (row_h - plain.height) // 2))
        canvas.paste(over, (x, row_h + 8 + (row_h - over.height) // 2))
        x += plain.width + 8
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
