"""Training curves as plotly figures (never shown here: the notebook displays them)."""

from __future__ import annotations

from pathlib import Path

CURVES = {
    "loss": ("Loss", ["loss", "seg_loss", "cancer_loss"]),
    "dice": ("Dice per class", ["liver_dice", "tumor_dice"]),
    "auc": ("Cancer AUC (slice level)", ["auc"]),
    "lr": ("Learning rate", ["lr"]),
}


def load_history(path: str | Path) -> dict:
    """Per-epoch logs from ``training_history.json`` (or a dict holding ``history``)."""
    import json

    record = json.loads(Path(path).read_text())
    return record.get("history", record)


def training_curves(history: dict) -> dict:
    """One figure per quantity, train (solid) vs validation (dashed).

    Args:
        history: Per-epoch logs, ``{"loss": [...], "val_loss": [...], ...}``
            (the ``history`` of ``train_model``'s result or of the history file).

    Returns:
        ``{"loss": Figure, "dice": Figure, "auc": Figure, "lr": Figure}``,
        only those with data.
    """
    import plotly.graph_objects as go

    history = history.get("history", history)
    figures = {}
    for key, (title, names) in CURVES.items():
        fig = go.Figure()
        for i, name in enumerate(names):
            color = f"hsl({(i * 137) % 360},65%,45%)"
            for prefix, dash, label in (("", "solid", "train"), ("val_", "dash", "valid")):
                values = history.get(prefix + name)
                if not values:
                    continue
                epochs = list(range(1, len(values) + 1))
                fig.add_trace(
                    go.Scatter(
                        x=epochs, y=values, mode="lines+markers", name=f"{name} ({label})",
                        line={"dash": dash, "color": color},
                    )
                )
        if not fig.data:
            continue
        yaxis = {"title": title}
        if key == "lr":  # linear: a cosine over 1-2 decades reads as its shape, log ticks as a lone 10^-3
            yaxis.update(tickformat=".1e", rangemode="tozero")
        elif key != "loss":
            yaxis["range"] = [0, 1.02]
        fig.update_layout(title=title, xaxis_title="epoch", yaxis=yaxis, template="plotly_white", height=360)
        figures[key] = fig
    return figures
