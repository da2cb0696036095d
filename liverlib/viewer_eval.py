"""Overlay viewers of predictions: an ipywidgets viewer and a static plotly slider.

* :func:`overlay_rgb` draws a CT slice (abdomen window) with a label over it:
  liver green, tumor red, filled and semi-transparent; a reference label, when
  given, is outlined (liver cyan, tumor yellow), so misses and false alarms
  show at a glance (the palette of :mod:`liverlib.render`, as in 02).
* :func:`overlay_viewer` (needs a kernel): case, view, slice and a
  probability-threshold slider over fused probability cubes.
* :func:`slice_slider_figure`: a plotly figure with a slider over slices whose
  frames are embedded PNGs, so it works in a static HTML report without a
  kernel (the threshold is fixed when the figure is made).

Cubes are ``(S, S, S)`` in ``(z, y, x)`` LPS order as :mod:`liverlib.views`
makes them; slices are shown in display orientation (``view_slices``).
"""

from __future__ import annotations

import numpy as np

from liverlib.render import outline_labels, overlay_labels, png_bytes, png_data_uri, window_grey
from liverlib.slice_dataset import VIEWS
from liverlib.views import view_slices

#: Display window (level, width) in HU: the abdomen window.
DISPLAY_WINDOW = (60.0, 400.0)


def threshold_label(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Label from class probabilities at a threshold.

    Liver (1) where ``P(liver) + P(tumor) >= threshold``; tumor (2) where
    ``P(tumor) >= threshold``. At 0.5 this is close to the argmax; lower
    thresholds show more (sensitive), higher ones less (specific).

    Args:
        probs: ``(..., 3)`` background/liver/tumor probabilities.
        threshold: In (0, 1].

    Returns:
        uint8 label with the shape of ``probs[..., 0]``.
    """
    probs = np.asarray(probs, np.float32)
    label = np.zeros(probs.shape[:-1], np.uint8)
    label[probs[..., 1] + probs[..., 2] >= threshold] = 1
    label[probs[..., 2] >= threshold] = 2
    return label


def overlay_rgb(hu: np.ndarray, label: np.ndarray | None = None, reference: np.ndarray | None = None,
                alpha: float = 0.4, window=DISPLAY_WINDOW, image: np.ndarray | None = None) -> np.ndarray:
    """One slice as RGB with the prediction filled and the reference outlined.

    Args:
        hu: ``(H, W)`` HU slice (ignored when ``image`` is given).
        label: ``(H, W)`` predicted label 0/1/2, drawn filled (liver green, tumor red).
        reference: ``(H, W)`` reference label, drawn as outlines (liver cyan, tumor yellow).
        alpha: Opacity of the fill.
        window: Display window (level, width) in HU.
        image: ``(H, W)`` gray in [0, 1] to use instead of ``hu`` (a windowed
            dataset image, e.g. ``images[n, :, :, 0]``).

    Returns:
        uint8 ``(H, W, 3)``.
    """
    grey = window_grey(hu, *window) if image is None else (np.clip(image, 0, 1) * 255).astype(np.uint8)
    rgb = overlay_labels(grey, label, opacity=alpha)
    return rgb if reference is None else outline_labels(rgb, reference)


def _slice_rgb(case: dict, view: str, index: int, threshold: float) -> np.ndarray:
    hu = view_slices(case["hu"], view)[index]
    probs = view_slices(case["probs"], view)[index]
    ref = case.get("label")
    ref = view_slices(ref, view)[index] if ref is not None else None
    return overlay_rgb(hu, threshold_label(probs, threshold), ref)


def overlay_viewer(cases: dict, threshold: float = 0.5, scale: int = 3):
    """Interactive viewer: case, view, slice and probability threshold.

    Args:
        cases: Case id -> ``{"hu": (S, S, S) HU cube, "probs": (S, S, S, 3)
            fused probabilities, "label": (S, S, S) reference or None}``
            (e.g. ``EvaluationResult.viewer``).
        threshold: Initial probability threshold.
        scale: Display magnification.

    Returns:
        An ``ipywidgets.VBox`` (display it; it needs a running kernel).
    """
    import ipywidgets as widgets

    if not cases:
        return widgets.HTML("no cases to show")
    names = list(cases)
    size = cases[names[0]]["hu"].shape[0]
    case_w = widgets.Dropdown(options=names, description="case")
    view_w = widgets.ToggleButtons(options=list(VIEWS), description="view")
    slice_w = widgets.IntSlider(value=size // 2, min=0, max=size - 1, description="slice", continuous_update=False)
    thr_w = widgets.FloatSlider(value=threshold, min=0.05, max=0.95, step=0.05, description="threshold",
                                continuous_update=False)
    image = widgets.Image(format="png")
    caption = widgets.HTML()

    def update(_=None):
        case = cases[case_w.value]
        slice_w.max = case["hu"].shape[0] - 1
        rgb = _slice_rgb(case, view_w.value, slice_w.value, thr_w.value)
        image.value = png_bytes(rgb, scale=scale)
        caption.value = (f"<small>{case_w.value}, {view_w.value} slice {slice_w.value}: prediction filled "
                         "(liver green, tumor red) at the threshold; reference outlined (cyan, yellow)</small>")

    for w in (case_w, view_w, slice_w, thr_w):
        w.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([case_w, view_w]), widgets.HBox([slice_w, thr_w]), image, caption])


def case_with_most_tumor(cases: dict) -> str | None:
    """The case of an overlay-viewer dict whose reference label holds the most tumor
    voxels (the first case when none has a label; None for no case): the one
    worth a static slider in a report."""
    if not cases:
        return None

    def tumor_voxels(name: str) -> int:
        label = cases[name].get("label")
        return -1 if label is None else int((np.asarray(label) == 2).sum())

    return max(cases, key=tumor_voxels)


def _most_tumor_position(case: dict, view: str, indices: list[int]) -> int:
    """Position in ``indices`` of the slice with the most tumor (the reference's, else the predicted
    probability's), so that a report's slider opens on the lesion; the middle one when there is none."""
    label = case.get("label")
    tumor = (np.asarray(label) == 2) if label is not None else np.asarray(case["probs"])[..., 2] >= 0.5
    per_slice = view_slices(tumor, view)[indices].reshape(len(indices), -1).sum(axis=1)
    return int(np.argmax(per_slice)) if per_slice.max() > 0 else len(indices) // 2


#: Smallest side, in screen pixels, of the static slider's image (02's slider is 460 px wide).
MIN_SHOWN_PX = 420


def slice_slider_figure(case: dict, view: str = "axial", threshold: float = 0.5, step: int = 2,
                        title: str = "", scale: int = 2):
    """Plotly figure with a slider over slices, working in static HTML.

    Args:
        case: ``{"hu", "probs", "label"}`` cubes as for :func:`overlay_viewer`.
        view: ``axial``, ``coronal`` or ``sagittal``.
        threshold: Probability threshold of the drawn label.
        step: Show every ``step``-th slice (keeps the HTML small: about 10-20 kB per slice).
        title: Figure title.
        scale: PNG magnification (the figure shows the image at least ``MIN_SHOWN_PX`` wide).

    Returns:
        ``plotly.graph_objects.Figure``, opening on the slice with the most tumor.
    """
    import plotly.graph_objects as go

    size = case["hu"].shape[0]
    indices = list(range(0, size, max(1, int(step))))
    sources = [
        png_data_uri(_slice_rgb(case, view, n, threshold), scale=scale, compress_level=6)  # small report
        for n in indices
    ]
    mid = _most_tumor_position(case, view, indices)
    shown = max(size * scale, MIN_SHOWN_PX)  # the browser scales the PNG up: a readable image, no bigger HTML
    fig = go.Figure(go.Image(source=sources[mid]))
    fig.frames = [go.Frame(data=[go.Image(source=s)], name=str(n)) for n, s in zip(indices, sources)]
    steps = [
        {"method": "animate", "label": str(n),
         "args": [[str(n)], {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}]}
        for n in indices
    ]
    fig.update_layout(
        title=title or f"{view} slices (threshold {threshold:.2f})",
        sliders=[{"active": mid, "steps": steps, "currentvalue": {"prefix": f"{view} slice "}}],
        xaxis={"visible": False}, yaxis={"visible": False}, margin={"l": 10, "r": 10, "t": 40, "b": 10},
        width=shown + 40, height=shown + 140,
        modebar={"orientation": "v"},  # down the right side: across the top it covers the title
    )
    return fig
