"""Evaluation figures (plotly): curves, confusion matrix, distributions, gallery, tables.

Every function returns a ``plotly.graph_objects.Figure`` and never shows it;
the notebook leaves it as a cell's last expression so the HTML report embeds
it. Inputs are the ``metrics.json`` content and the arrays of an
:class:`liverlib.evaluation_result.EvaluationResult`. Training curves come from
:func:`liverlib.plots_training.training_curves` and tables from
:func:`liverlib.tables.table_figure` (both re-exported here).
"""

from __future__ import annotations

import math

import numpy as np

from liverlib.plots_training import training_curves
from liverlib.slice_dataset import VIEWS
from liverlib.tables import format_cell, table_figure

__all__ = [
    "case_dice_figure", "confidence_figure", "confusion_figure", "iou_distribution_figure",
    "pr_figure", "roc_figure", "score_scatter_figure", "table_figure", "threshold_figure", "training_curves",
    "worst_cases_gallery",
]
COLORS = {"overall": "#222222", "axial": "#1f77b4", "coronal": "#2ca02c", "sagittal": "#d62728", "fused": "#9467bd"}
LAYOUT = {"template": "plotly_white", "height": 420}


def roc_figure(slice_metrics: dict, fused: dict | None = None):
    """ROC curves of the slice-level cancer call, overall and per view, AUC in the legend.

    Args:
        slice_metrics: ``metrics.json["slice"]`` (groups with ``cancer.roc``).
        fused: ``metrics.json["slice_fused"]["overall"]["cancer"]``: the call
            read off the fused 3D result, drawn dashed; None leaves it out.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    for name in ("overall",) + VIEWS:
        c = slice_metrics.get(name, {}).get("cancer")
        if not c or not c["roc"]["fpr"]:
            continue
        fig.add_trace(go.Scatter(x=c["roc"]["fpr"], y=c["roc"]["tpr"], mode="lines", name=f"{name} (AUC {format_cell(c['auc'])})",
                                 line={"color": COLORS[name], "width": 3 if name == "overall" else 1.5}))
    if fused and fused["roc"]["fpr"]:
        fig.add_trace(go.Scatter(x=fused["roc"]["fpr"], y=fused["roc"]["tpr"], mode="lines",
                                 name=f"fused 3D, {fused['n']} slices (AUC {format_cell(fused['auc'])})",
                                 line={"color": COLORS["fused"], "width": 3, "dash": "dash"}))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "gray"}))
    fig.update_layout(title="Cancer per slice: ROC", xaxis_title="1 - specificity (false positive rate)",
                      yaxis_title="sensitivity (true positive rate)", **LAYOUT)
    return fig


def pr_figure(slice_metrics: dict, fused: dict | None = None):
    """Precision-recall curves of the slice cancer call, average precision in the legend.

    Args:
        slice_metrics: ``metrics.json["slice"]`` (groups with ``cancer.pr``).
        fused: ``metrics.json["slice_fused"]["overall"]["cancer"]``, drawn dashed
            as in :func:`roc_figure`; None leaves it out.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    for name in ("overall",) + VIEWS:
        c = slice_metrics.get(name, {}).get("cancer")
        if not c or not c["pr"]["recall"]:
            continue
        fig.add_trace(go.Scatter(x=c["pr"]["recall"], y=c["pr"]["precision"], mode="lines",
                                 name=f"{name} (AP {format_cell(c['average_precision'])})",
                                 line={"color": COLORS[name], "width": 3 if name == "overall" else 1.5}))
    if fused and fused["pr"]["recall"]:
        fig.add_trace(go.Scatter(x=fused["pr"]["recall"], y=fused["pr"]["precision"], mode="lines",
                                 name=f"fused 3D, {fused['n']} slices (AP {format_cell(fused['average_precision'])})",
                                 line={"color": COLORS["fused"], "width": 3, "dash": "dash"}))
    fig.update_layout(title="Cancer per slice: precision-recall", xaxis_title="recall (sensitivity)",
                      yaxis_title="precision", yaxis_range=[0, 1.02], **LAYOUT)
    return fig


def confusion_figure(cancer: dict, title: str = "Cancer per slice: confusion matrix"):
    """Confusion matrix heatmap at the chosen threshold (rows true, columns predicted).

    Args:
        cancer: A group's ``cancer`` entry (``confusion`` [[tn, fp], [fn, tp]]).
        title: Figure title.
    """
    import plotly.graph_objects as go

    cm = np.asarray(cancer["confusion"])
    labels = ["no tumor", "tumor"]
    fig = go.Figure(go.Heatmap(z=cm, x=labels, y=labels, colorscale="Blues", text=cm, texttemplate="%{text}",
                               showscale=False))
    fig.update_layout(
        title=f"{title}<br><sup>threshold {cancer['threshold']:.2f}: sensitivity {format_cell(cancer['sensitivity'])}, "
              f"specificity {format_cell(cancer['specificity'])}</sup>",
        xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed", template="plotly_white",
        height=380, width=560,
    )
    return fig


def iou_distribution_figure(per_image_iou: dict, view: np.ndarray):
    """Per-image IoU distribution (liver, tumor, mean) per view, as box plots with points."""
    import plotly.graph_objects as go

    view = np.asarray(view)
    fig = go.Figure()
    for region in ("mean", "liver", "tumor"):
        values = np.asarray(per_image_iou[region], float)
        ok = ~np.isnan(values)
        names = np.asarray(VIEWS)[view[ok]]
        fig.add_trace(go.Box(x=names, y=values[ok], name=region, boxpoints="outliers"))
    fig.update_layout(title="IoU per image (slices with the region in reference or prediction)",
                      yaxis_title="IoU", yaxis_range=[0, 1.02], boxmode="group", **LAYOUT)
    return fig


def confidence_figure(cancer_prob: np.ndarray, cancer_true: np.ndarray):
    """Histogram of the per-slice cancer probability, by true class."""
    import plotly.graph_objects as go

    cancer_prob, cancer_true = np.asarray(cancer_prob, float), np.asarray(cancer_true).astype(bool)
    fig = go.Figure()
    for flag, name, color in ((False, "no tumor in slice", "#1f77b4"), (True, "tumor in slice", "#d62728")):
        fig.add_trace(go.Histogram(x=cancer_prob[cancer_true == flag], name=name, marker_color=color,
                                   opacity=0.6, xbins={"start": 0, "end": 1, "size": 0.05}))
    fig.update_layout(title="Confidence: cancer probability per slice", xaxis_title="cancer probability",
                      yaxis_title="slices", barmode="overlay", **LAYOUT)
    return fig


def score_scatter_figure(cancer_prob: np.ndarray, tumor_iou: np.ndarray, cancer_true: np.ndarray,
                         seg_confidence: np.ndarray | None = None):
    """Segmentation against classification per slice: tumor IoU vs cancer probability.

    Slices with no tumor in reference or prediction have no tumor IoU and sit
    at -0.05, so a confident classifier with an empty segmentation shows.
    """
    import plotly.graph_objects as go

    iou = np.asarray(tumor_iou, float)
    y = np.where(np.isnan(iou), -0.05, iou)
    truth = np.asarray(cancer_true).astype(bool)
    fig = go.Figure()
    for flag, name, color in ((False, "no tumor in slice", "#1f77b4"), (True, "tumor in slice", "#d62728")):
        sel = truth == flag
        text = None if seg_confidence is None else [f"seg confidence {c:.2f}" for c in np.asarray(seg_confidence)[sel]]
        fig.add_trace(go.Scatter(x=np.asarray(cancer_prob)[sel], y=y[sel], mode="markers", name=name, text=text,
                                 marker={"color": color, "size": 6, "opacity": 0.6}))
    fig.update_layout(title="Tumor IoU vs cancer probability per slice<br><sup>slices with no tumor in the reference "
                            "nor the prediction (IoU undefined) are drawn at -0.05</sup>",
                      xaxis_title="cancer probability", yaxis_title="tumor IoU", **LAYOUT)
    return fig


def case_dice_figure(cases: list[dict], region: str = "tumor"):
    """Per-case 3D Dice of each single view and of the fusion (grouped bars); for the tumor, both patient
    cancer scores as markers beside them (a liver Dice has nothing to say about them).

    Args:
        cases: ``metrics.json["cases"]`` (summaries with ``metrics.dice``).
        region: ``liver`` or ``tumor``.

    Returns:
        A ``plotly.graph_objects.Figure``: one bar trace per view and the fusion (e.g. fused tumor
        Dice 0.72 next to the axial 0.65 of a case), then the score markers when ``region`` is tumor.
    """
    import plotly.graph_objects as go

    scored = [c for c in cases if c.get("metrics")]
    names = [c["case_id"] for c in scored]
    fig = go.Figure()
    for view in VIEWS + ("fused",):
        fig.add_trace(go.Bar(x=names, y=[c["metrics"]["dice"][view][region] for c in scored], name=view,
                             marker_color=COLORS[view]))
    if region == "tumor":
        fig.add_trace(go.Scatter(x=names, y=[c["cancer_score"] for c in scored], mode="markers",
                                 name="cancer score (head)", marker={"symbol": "diamond", "size": 11, "color": "black"}))
        fused = [c.get("fused_cancer_score") for c in scored]
        if any(v is not None for v in fused):  # summaries written before the fused score lack it
            fig.add_trace(go.Scatter(x=names, y=fused, mode="markers", name="cancer score (fused volume)",
                                     marker={"symbol": "diamond-open", "size": 11, "color": COLORS["fused"]}))
    fig.update_layout(title=f"3D {region} Dice per case: single views vs fusion",
                      yaxis_title="Dice / score" if region == "tumor" else "Dice",
                      yaxis_range=[0, 1.05], barmode="group", **LAYOUT)
    return fig


def worst_cases_gallery(images: np.ndarray, true_masks: np.ndarray, pred_masks: np.ndarray, indices,
                        captions: list[str] | None = None, columns: int = 3):
    """Gallery of slices (e.g. the lowest IoU): prediction filled, reference outlined.

    Args:
        images: ``(N, S, S, C)`` dataset images in [0, 1] (channel 0 is shown).
        true_masks: ``(N, S, S)`` reference labels.
        pred_masks: ``(N, S, S)`` predicted labels.
        indices: Slices to show, in order.
        captions: One title per shown slice.
        columns: Panels per row.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from liverlib.viewer_eval import overlay_rgb

    indices = [int(i) for i in indices]
    if not indices:
        return go.Figure().update_layout(title="no slices to show", **LAYOUT)
    rows = math.ceil(len(indices) / columns)
    captions = captions or [f"slice {i}" for i in indices]
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=captions, horizontal_spacing=0.02, vertical_spacing=0.08)
    for n, i in enumerate(indices):
        rgb = overlay_rgb(None, np.asarray(pred_masks[i]), np.asarray(true_masks[i]),
                          image=np.asarray(images[i][..., 0], np.float32))
        fig.add_trace(go.Image(z=rgb), row=n // columns + 1, col=n % columns + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title="Worst slices: prediction filled (liver green, tumor red), reference outlined",
                      height=300 * rows + 60, template="plotly_white", margin={"l": 10, "r": 10, "t": 80, "b": 10})
    return fig


def threshold_figure(calibration: dict | None):
    """3D tumor Dice of the fused label against its tumor threshold (``calibrate.calibrate_run``).

    Args:
        calibration: The calibration record (``calibration.json``); None draws
            an empty figure that says the argmax (0.5) is used.

    Returns:
        A ``go.Figure``: Dice per case (the criterion), each study's Dice
        (grey: a tumor-free study jumps between 0 and 1) and the pooled Dice
        over the candidates, the chosen one marked.
    """
    import plotly.graph_objects as go

    fig = go.Figure().update_layout(**LAYOUT, xaxis_title="tumor threshold (0.5 = argmax)",
                                    yaxis_title="3D tumor Dice")
    if not calibration:
        return fig.update_layout(title="No calibration: the fused label is the argmax (tumor threshold 0.5)")
    x, y, chosen = calibration["candidates"], calibration["tumor_dice"], calibration["tumor_threshold"]
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name="Dice per case (mean)", line={"color": COLORS["fused"]}))
    for n, (case, row) in enumerate(sorted(calibration.get("tumor_dice_per_study", {}).items())):
        fig.add_trace(go.Scatter(x=x, y=row, mode="lines", name="each study", legendgroup="study", showlegend=n == 0,
                                 line={"color": "#bbbbbb", "width": 1}, hovertemplate=f"{case}: %{{y:.3f}}<extra></extra>"))
    if calibration.get("tumor_dice_pooled"):
        fig.add_trace(go.Scatter(x=x, y=calibration["tumor_dice_pooled"], mode="lines+markers", name="Dice pooled",
                                 line={"color": COLORS["overall"], "dash": "dot"}))
    if chosen in x:
        fig.add_trace(go.Scatter(x=[chosen], y=[y[x.index(chosen)]], mode="markers", name=f"chosen: {chosen:g}",
                                 marker={"size": 14, "symbol": "star", "color": "#d62728"}))
    return fig.update_layout(title=f"Tumor threshold of the fused label, chosen on {len(calibration['cases'])} "
                                   f"{calibration['split']} studies: {chosen:g}")

