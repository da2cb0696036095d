"""Phantom pictures: plotly figure with three views + histograms, PIL PNG."""

from __future__ import annotations

from liverlib.phantom import generate_phantom, phantom_figure
from liverlib.phantom.figures import save_views_png


def test_figure_and_png(tmp_path):
    p = generate_phantom(2, thickness=5.0)
    fig = phantom_figure(p)
    kinds = [t.type for t in fig.data]
    assert kinds.count("heatmap") == 9 and "histogram" in kinds
    out = save_views_png(p, tmp_path / "v.png")
    from PIL import Image

    im = Image.open(out)
    assert im.width > 600 and im.height > 300
