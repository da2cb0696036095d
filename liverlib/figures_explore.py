"""Exploration figures of a decoded cohort and its slice dataset (notebook 02).

Every function returns a ``plotly.graph_objects.Figure`` (never shown here):

* :func:`hu_histograms`: HU distribution of body, liver and tumor voxels;
* :func:`class_balance`: slices with and without cancer, and liver/tumor
  pixel shares, per split and view;
* :func:`volume_distributions`: liver mL, tumor mL and lesion count per split;
* :func:`montage`: axial, coronal and sagittal slices through the liver of a
  few cases, with liver (green) and tumor (red) overlays;
* :func:`slice_slider_figure`: one view of one case with a slider over its
  slices, which keeps working in exported HTML without a kernel;
* :func:`table_figure`: a list of dicts as a plotly table (from :mod:`liverlib.tables`).

Images are embedded as small base64 PNGs (``go.Image(source=...)``), at most
``image_size`` (e.g. 128) pixels a side, so a report stays a few MB; they are
drawn by :mod:`liverlib.render` (one palette for every report). plotly is
imported inside the figure functions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liverlib.liver_box import LIVER_MARGIN_MM
from liverlib.render import CLASS_COLORS, png_data_uri, render_slice
from liverlib.slice_dataset import SPLITS, VIEWS, load_split
from liverlib.tables import table_figure  # noqa: F401  (notebooks call fx.table_figure)


def load_cube(interim_dir: str | Path, case_id: str, spacing_mm: float = 1.6, image_size: int = 128,
              crop: str = "body", liver_margin_mm: float = LIVER_MARGIN_MM, antialias: bool = True):
    """A cached case as its ``(S, S, S)`` HU cube and label cube, as the slice dataset cut it.

    Args:
        interim_dir: ``data/interim/<dataset>``.
        case_id: The case pseudonym.
        spacing_mm: Resampling step, e.g. 1.6 mm.
        image_size: Cube side in pixels.
        crop: ``body`` (the whole body) or ``liver`` (the box around the
            reference liver the model trains on; the body for unlabelled studies).
        liver_margin_mm: Margin of the liver box.
        antialias: HU blurred before sampling a coarser cube (the dataset
            manifest's ``antialias``; :func:`liverlib.cube.to_cube`).

    Returns:
        ``(cube_hu, cube_label)``; ``cube_label`` is None for unlabelled studies.
    """
    from liverlib.cube import AIR_HU, to_cube
    from liverlib.interim import load_case
    from liverlib.liver_box import dataset_grid

    volume = load_case(Path(interim_dir) / f"{case_id}.npz")
    grid = dataset_grid(volume, spacing_mm, image_size, crop, liver_margin_mm)
    cube_label = None if volume.label is None else to_cube(volume.label, grid, order=0, fill=0, dtype=np.uint8)
    return to_cube(volume.hu, grid, order=1, fill=AIR_HU, antialias=antialias), cube_label


def liver_slices(label_stack: np.ndarray | None) -> np.ndarray:
    """Indices of a view stack's slices that show liver (empty when none)."""
    if label_stack is None:
        return np.zeros(0, int)
    return np.flatnonzero(label_stack.reshape(label_stack.shape[0], -1).max(axis=1) > 0)


def centre_slice(label_stack: np.ndarray | None) -> int:
    """The slice through the liver's centre of mass, else the middle slice."""
    if label_stack is None or not np.any(label_stack):
        return (0 if label_stack is None else label_stack.shape[0]) // 2
    weights = (label_stack > 0).reshape(label_stack.shape[0], -1).sum(axis=1)
    return int(round(float(np.average(np.arange(len(weights)), weights=weights))))


def pick_cases(cases: list[dict], n: int) -> list[str]:
    """``n`` case ids for a montage: tumor cases first, then by split, in cases.csv's order.

    Args:
        cases: Rows of ``cases.csv``.
        n: How many (fewer when the cohort is smaller).

    Returns:
        Case ids, e.g. ``["ircadb-1403e11ff2", ...]``.
    """
    order = {split: i for i, split in enumerate(SPLITS)}
    # A stable sort keeps cases.csv's source order within a group (ids are salted per checkout).
    ranked = sorted(cases, key=lambda r: (not (r.get("n_lesions") or 0), order.get(r.get("split"), 9)))
    return [row["case_id"] for row in ranked[: max(0, int(n))]]


def hu_histograms(interim_dir: str | Path, case_ids: list[str] | None = None, *, hu_range=(-250, 350),
                  bin_width: float = 5.0, max_voxels: int = 200_000, seed: int = 0):
    """HU distribution per label over a cohort (share of each class's voxels per bin).

    Body is every voxel above -500 HU outside the liver; liver is label 1
    (parenchyma around 100-130 HU in portal venous phase), tumor label 2
    (hypodense lesions often 40-80 HU).

    Args:
        interim_dir: ``data/interim/<dataset>``.
        case_ids: Cases to use (default: all in ``cases.csv``).
        hu_range: HU axis range, e.g. (-250, 350).
        bin_width: Bin width in HU.
        max_voxels: Voxels drawn per class and case (keeps it fast).
        seed: Seed of that draw.

    Returns:
        A ``go.Figure`` with one line per class.
    """
    import plotly.graph_objects as go

    from liverlib.interim import load_case, read_cases

    interim_dir = Path(interim_dir)
    case_ids = case_ids if case_ids is not None else [r["case_id"] for r in read_cases(interim_dir)]
    edges = np.arange(hu_range[0], hu_range[1] + bin_width, bin_width, dtype=np.float32)
    totals = {name: np.zeros(len(edges) - 1) for name in ("body", "liver", "tumor")}
    rng = np.random.default_rng(seed)
    for case_id in case_ids:
        volume = load_case(interim_dir / f"{case_id}.npz")
        hu = volume.hu.ravel()
        label = volume.label.ravel() if volume.label is not None else np.zeros(hu.shape, np.uint8)
        for name, sel in (("body", (label == 0) & (hu > -500)), ("liver", label == 1), ("tumor", label == 2)):
            values = hu[sel]
            if values.size > max_voxels:
                values = rng.choice(values, max_voxels, replace=False)
            totals[name] += np.histogram(values, edges)[0]
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for name, counts in totals.items():
        if counts.sum() == 0:
            continue
        fig.add_trace(go.Scatter(x=centres, y=100 * counts / counts.sum(), mode="lines", name=name,
                                 line={"color": CLASS_COLORS[name], "shape": "hvh"}))
    fig.update_layout(title=f"HU per label ({len(case_ids)} cases)", xaxis_title="HU",
                      yaxis_title=f"% of the class's voxels per {bin_width:g} HU", height=380)
    return fig


def _pixel_shares(processed_dir: Path, split: str, chunk: int = 256) -> dict[str, np.ndarray]:
    data = load_split(processed_dir, split)
    view = np.asarray(data.view)
    shares = {}
    for v, name in enumerate(VIEWS):
        index = np.flatnonzero(view == v)
        counts = np.zeros(3)
        for start in range(0, len(index), chunk):
            counts += np.bincount(np.asarray(data.masks[index[start:start + chunk]]).ravel(), minlength=3)[:3]
        shares[name] = 100 * counts / max(counts.sum(), 1)
    return shares


def class_balance(processed_dir: str | Path, manifest: dict | None = None):
    """Slices with and without cancer, and pixel shares of liver and tumor,
    per split and view.

    Args:
        processed_dir: ``data/processed/<dataset>/<size>``.
        manifest: Its manifest (read when not given).

    Returns:
        A two-row ``go.Figure``: slice counts with and without cancer (top), liver and tumor
        share of pixels in % (bottom), both over (split, view).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from liverlib.slice_dataset import read_manifest

    processed_dir = Path(processed_dir)
    manifest = manifest or read_manifest(processed_dir)
    counts = manifest["counts"]
    x = [[s for s in SPLITS for _ in VIEWS], [v for _ in SPLITS for v in VIEWS]]
    cancer = [counts[s][v]["cancer"] for s in SPLITS for v in VIEWS]
    total = [counts[s][v]["n"] for s in SPLITS for v in VIEWS]
    shares = {s: _pixel_shares(processed_dir, s) for s in SPLITS}
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.18,
                        subplot_titles=("slices per class", "pixels per class (%)"))
    fig.add_trace(go.Bar(x=x, y=[t - c for t, c in zip(total, cancer)], name="no cancer",
                         marker_color=CLASS_COLORS["no cancer"]), row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=cancer, name="cancer", marker_color=CLASS_COLORS["cancer"]), row=1, col=1)
    for k, name in ((1, "liver"), (2, "tumor")):
        fig.add_trace(go.Bar(x=x, y=[round(float(shares[s][v][k]), 3) for s in SPLITS for v in VIEWS],
                             name=f"{name} pixels", marker_color=CLASS_COLORS[name]), row=2, col=1)
    fig.update_layout(barmode="group", height=560, title="Class balance per split and view")
    return fig


def volume_distributions(cases: list[dict]):
    """Liver volume, tumor volume and lesion count per split, one point per case.

    Args:
        cases: Rows of ``cases.csv`` (``liver_ml`` e.g. 1450, ``tumor_ml``,
            ``n_lesions``, ``split``).

    Returns:
        A one-row, three-panel ``go.Figure`` of box plots with all points.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    columns = (("liver_ml", "liver (mL)"), ("tumor_ml", "tumor (mL)"), ("n_lesions", "lesions"))
    fig = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title in columns])
    colors = {"train": "#2980b9", "valid": "#8e44ad", "test": "#d35400"}
    for col, (key, _) in enumerate(columns, 1):
        for split in SPLITS:
            rows = [r for r in cases if r.get("split") == split and r.get(key) not in (None, "")]
            if not rows:
                continue
            fig.add_trace(go.Box(y=[float(r[key]) for r in rows], name=split, boxpoints="all", jitter=0.4,
                                 pointpos=0, marker_color=colors[split], text=[r["case_id"] for r in rows],
                                 hovertemplate="%{text}: %{y}<extra>" + split + "</extra>",
                                 legendgroup=split, showlegend=col == 1), row=1, col=col)
    fig.update_layout(title=f"Liver and tumor volumes ({len(cases)} cases)", height=380)
    return fig


def phase_counts(cases: list[dict]) -> list[dict]:
    """Studies per contrast phase in each split (``cases.csv``'s ``contrast_phase``).

    Args:
        cases: Rows of ``cases.csv``.

    Returns:
        One row per split, e.g. ``{"split": "train", "studies": 34, "portal venous": 28,
        "arterial": 3, "unenhanced": 3}``, columns for the phases present only.
    """
    from liverlib.contrast_phase import phase_order

    phases = phase_order(r.get("contrast_phase") for r in cases)
    rows = []
    for split in SPLITS:
        members = [r for r in cases if r.get("split") == split]
        if members:
            row = {"split": split, "studies": len(members)}
            row.update({p: sum((r.get("contrast_phase") or "unknown") == p for r in members) for p in phases})
            rows.append(row)
    return rows


def montage(interim_dir: str | Path, case_ids: list[str], *, spacing_mm: float = 1.6, image_size: int = 128,
            level: float = 60.0, width: float = 400.0, opacity: float = 0.4, crop: str = "body",
            liver_margin_mm: float = LIVER_MARGIN_MM, antialias: bool = True):
    """Axial, coronal and sagittal slices through the liver centre of a few cases, with overlays.

    Args:
        interim_dir: ``data/interim/<dataset>``.
        case_ids: One row per case (keep it to a few: 3-6).
        spacing_mm: Resampling step, as in the slice dataset.
        image_size: Side of each panel in pixels (<= 128 keeps reports small).
        level: Window level in HU (60).
        width: Window width in HU (400).
        opacity: Liver/tumor overlay weight (0..1).
        crop, liver_margin_mm, antialias: The cube, as in :func:`load_cube` (the dataset's).

    Returns:
        A ``go.Figure`` of ``len(case_ids)`` x 3 images.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from liverlib.views import view_slices

    n = max(len(case_ids), 1)
    titles = [f"{case} {view}" for case in case_ids for view in VIEWS]
    # Rows of ~250 px images (780 px wide, 3 columns) with a 36 px gap that holds the next row's titles.
    plot_px = 250 * n + 36 * (n - 1)
    fig = make_subplots(rows=n, cols=3, subplot_titles=titles or None, horizontal_spacing=0.02,
                        vertical_spacing=36 / plot_px if n > 1 else 0.0)
    for row, case_id in enumerate(case_ids, 1):
        cube_hu, cube_label = load_cube(interim_dir, case_id, spacing_mm, image_size, crop, liver_margin_mm, antialias)
        for col, view in enumerate(VIEWS, 1):
            labels = view_slices(cube_label, view) if cube_label is not None else None
            k = centre_slice(labels)
            rgb = render_slice(view_slices(cube_hu, view)[k], labels[k] if labels is not None else None,
                               level=level, width=width, opacity=opacity)
            fig.add_trace(go.Image(source=png_data_uri(rgb), name=f"{case_id} {view} {k}",
                                   hovertemplate=f"{case_id} {view} slice {k}<extra></extra>"), row=row, col=col)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    for i in range(2, 3 * n + 1):
        fig.update_yaxes(scaleanchor=f"x{i}", row=(i - 1) // 3 + 1, col=(i - 1) % 3 + 1)
    fig.update_annotations(font_size=12)
    where = "cube around the liver" if crop == "liver" else "whole-body cube"
    fig.update_layout(title=f"Three views through the liver, {where} (green liver, red tumor)", height=plot_px + 80,
                      width=780, margin={"l": 10, "r": 10, "t": 70, "b": 10})
    return fig


def slice_slider_figure(interim_dir: str | Path, case_id: str, view: str = "axial", *, spacing_mm: float = 1.6,
                        image_size: int = 128, n_steps: int = 15, level: float = 60.0, width: float = 400.0,
                        opacity: float = 0.4, cube=None, crop: str = "body", liver_margin_mm: float = LIVER_MARGIN_MM,
                        antialias: bool = True):
    """One view of one case with a slider over its liver slices; works in static HTML.

    Each step is its own small PNG image trace and the slider only toggles
    which one is visible, so no kernel is needed after export.

    Args:
        interim_dir: ``data/interim/<dataset>``.
        case_id: The case pseudonym.
        view: ``axial``, ``coronal`` or ``sagittal``.
        spacing_mm: Resampling step, as in the slice dataset.
        image_size: Image side in pixels (<= 128 keeps the HTML small).
        n_steps: Slider steps, spread over the slices showing liver (all
            slices when there is no liver); 15 steps of 128 px are ~0.5 MB.
        level: Window level in HU (60).
        width: Window width in HU (400).
        opacity: Overlay weight (0..1).
        cube: ``(cube_hu, cube_label)`` already loaded with :func:`load_cube`.
        crop, liver_margin_mm, antialias: The cube to load, as in :func:`load_cube`.

    Returns:
        A ``go.Figure`` with ``n_steps`` image traces and one slider.
    """
    import plotly.graph_objects as go

    from liverlib.views import view_slices

    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    if cube is None:
        cube = load_cube(interim_dir, case_id, spacing_mm, image_size, crop, liver_margin_mm, antialias)
    cube_hu, cube_label = cube
    hu_stack = view_slices(cube_hu, view)
    labels = view_slices(cube_label, view) if cube_label is not None else None
    present = liver_slices(labels)
    lo, hi = (int(present[0]), int(present[-1])) if present.size else (0, hu_stack.shape[0] - 1)
    index = np.unique(np.linspace(lo, hi, max(1, n_steps)).round().astype(int))
    start = int(np.argmin(np.abs(index - centre_slice(labels))))
    fig = go.Figure()
    for i, k in enumerate(index):
        rgb = render_slice(hu_stack[k], labels[k] if labels is not None else None, level=level, width=width,
                           opacity=opacity)
        fig.add_trace(go.Image(source=png_data_uri(rgb), visible=bool(i == start), name=f"slice {k}",
                               hovertemplate=f"{case_id} {view} slice {k}<extra></extra>"))
    steps = [{"method": "update", "label": str(int(k)),
              "args": [{"visible": [j == i for j in range(len(index))]}]} for i, k in enumerate(index)]
    fig.update_layout(
        title=f"{case_id}: {view} slices (green liver, red tumor)", width=460, height=540,
        sliders=[{"active": start, "steps": steps, "currentvalue": {"prefix": f"{view} slice "}, "pad": {"t": 30}}],
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        modebar={"orientation": "v"},  # down the right side: across the top it covers the title
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return fig


def slice_slider_figures(interim_dir: str | Path, case_id: str | None, views=VIEWS, *, spacing_mm: float = 1.6,
                         image_size: int = 128, crop: str = "body", liver_margin_mm: float = LIVER_MARGIN_MM,
                         antialias: bool = True, **kwargs) -> list:
    """:func:`slice_slider_figure` for each view of one case (the cube is made once).

    Args:
        interim_dir: ``data/interim/<dataset>``.
        case_id: The case pseudonym; None gives [] (nothing decoded, e.g. an
            image-folder dataset).
        views: Views to show, default all three.
        spacing_mm: Resampling step, as in the slice dataset.
        image_size: Image side in pixels (<= 128 keeps the HTML small).
        crop, liver_margin_mm, antialias: The cube, as in :func:`load_cube`.
        **kwargs: ``n_steps``, ``level``, ``width``, ``opacity``.

    Returns:
        One ``go.Figure`` per view.
    """
    if case_id is None:
        return []
    cube = load_cube(interim_dir, case_id, spacing_mm, image_size, crop, liver_margin_mm, antialias)
    return [slice_slider_figure(interim_dir, case_id, view, spacing_mm=spacing_mm, image_size=image_size,
                                cube=cube, **kwargs) for view in views]
