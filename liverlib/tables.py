"""Plotly tables of row dicts, the one table helper of every report (notebooks 01, 02 and 04).

Pandas-free: rows are plain dicts (``cases.csv`` rows, ``EvaluationResult.table()``).
Numbers are printed with the precision their size calls for (:func:`format_cell`),
columns are as wide as their content and the figure as tall as its rows, so a
two-row table does not leave a screen of white space in the HTML report.
"""

from __future__ import annotations

import math

#: Row and header heights in pixels (fixed, so the figure height can fit the rows).
ROW_PX = 26
HEADER_PX = 30


def format_cell(value) -> str:
    """One table cell as text.

    Args:
        value: A cell value; floats get decimals by magnitude: a Dice of
            0.9413 prints 0.941, a volume error of 23.097 mL prints 23.1, a
            liver of 1450.12 mL prints 1450.

    Returns:
        The text; ``"n/a"`` for None and NaN (a metric that is not defined,
        e.g. tumor Dice of a tumor-free case).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        magnitude = abs(value)
        decimals = 3 if magnitude < 10 else 1 if magnitude < 1000 else 0
        return f"{value:.{decimals}f}"
    return str(value)


def table_figure(rows: list[dict], title: str | None = None, *, columns: list[str] | None = None, max_rows: int = 500):
    """A list of dict rows as a plotly table.

    Args:
        rows: e.g. ``[{"case_id": "ircadb-5172e836ac", "liver_ml": 1450.1}, ...]``.
        title: Figure title.
        columns: Column order (default: every key, in order of appearance).
        max_rows: Rows shown (the title says when some are left out).

    Returns:
        A ``go.Figure`` with one ``go.Table``: widths by content (a case id
        gets more room than "0.941"), height fitted to the rows shown (up to 20;
        longer tables scroll).
    """
    import plotly.graph_objects as go

    columns = columns or list(dict.fromkeys(k for r in rows for k in r)) or ["(empty)"]
    shown = rows[:max_rows]
    title = title or ""
    if len(rows) > max_rows:
        title += f" (first {max_rows} of {len(rows)})"
    cells = [[format_cell(r.get(c)) for r in shown] for c in columns]
    widths = [max(len(str(c)) * 0.6, *(len(v) for v in col), 4) for c, col in zip(columns, cells)]
    fig = go.Figure(go.Table(header={"values": columns, "fill_color": "#e8eef7", "height": HEADER_PX},
                             cells={"values": cells, "height": ROW_PX}, columnwidth=widths))
    top = 40 if title else 10
    fig.update_layout(title=title or None, height=top + HEADER_PX + ROW_PX * min(len(shown), 20) + 20,
                      margin={"l": 10, "r": 10, "t": top, "b": 10})
    return fig
