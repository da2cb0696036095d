"""Set a notebook kernel up the same way in every numbered notebook.

``liverlib.notebook.setup()`` in the imports cell makes plotly emit its JSON
mime bundle (JupyterLab draws it; the HTML export turns it into an inline
figure with plotly.js embedded once, see :mod:`liverlib.report`) and routes
liverlib's progress lines (one per decoded study, one per epoch) to the cell
output, where papermill copies them into the batch log.
"""

from __future__ import annotations

import logging
import sys


def setup(level: int = logging.INFO) -> None:
    """Plotly renderer and logging for notebook kernels (idempotent)."""
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype"
    logger = logging.getLogger("liverlib")
    logger.setLevel(level)
    if not any(getattr(h, "_liverlib", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._liverlib = True
        logger.addHandler(handler)
        logger.propagate = False
