"""Plotly tables of row dicts, the one table helper of every report (notebooks 01, 02 and 04).

Pandas-free: rows are plain dicts (``cases.csv`` rows, ``EvaluationResult.table()``).
Numbers are printed with the precision their size calls for (:func:`format_cell`),
columns are as wide as their content and the figure as tall as its rows, so a
two-row table does not leave a screen of white space in the HTML report.
"""

from __future__ import annotations

import math
import numbers
import re
import textwrap

#: Row height and header line height in pixels (fixed, so the figure height can fit the rows).
ROW_PX = 26
HEADER_PX = 30
#: Width a table is laid out for when estimating how its headers wrap (plotly's default figure is ~700-900 px).
LAYOUT_WIDTH_PX = 760
#: Width of a letter of the table font (12 px Open Sans), in pixels.
LETTER_PX = 7.0
#: Header lines room is made for; a longer header overflows its cell.
MAX_HEADER_LINES = 6
#: A column in millilitres (``liver_ml``, ``tumor mL error``) prints one decimal whatever the size.
_ML_COLUMN = re.compile(r"(^|[\s_])ml($|[\s_])", re.IGNORECASE)


def format_cell(value, decimals: int | None = None) -> str:
    """One table cell as text.

    Args:
        value: A cell value; floats (numpy's too) get decimals by magnitude:
            a Dice of 0.9413 prints 0.941, a volume error of 23.097 mL prints
            23.1, a liver of 1450.12 mL prints 1450.
        decimals: Fixed decimals instead (e.g. 1 for a column in mL, so 6.988
            mL prints 7.0 beside 23.1).

    Returns:
        The text; ``"n/a"`` for None and NaN (a metric that is not defined,
        e.g. tumor Dice of a tumor-free case).
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)
        if math.isnan(value):
            return "n/a"
        if decimals is None:
            magnitude = abs(value)
            decimals = 3 if magnitude < 10 else 1 if magnitude < 1000 else 0
        return f"{value:.{decimals}f}"
    return "n/a" if value is None else str(value)


def _wrapped_lines(header: str, column_px: float, letter_px: float = LETTER_PX) -> int:
    """Lines a header takes when wrapped at spaces in a column ``column_px`` wide.

    Wrapping moves whole words, so "fused AUC gain" over a number column
    needs more lines than its length over the width suggests. Words are not
    broken (plotly does not break them; ``table_figure`` makes each column as
    wide as its header's longest word).
    """
    per_line = max(int((column_px - 8) / letter_px), 1)
    return max(len(textwrap.wrap(header, per_line, break_long_words=False)), 1)


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
        longer tables scroll), a fixed width only when the cells need more
        than ``LAYOUT_WIDTH_PX``.
    """
    import plotly.graph_objects as go

    columns = columns or list(dict.fromkeys(k for r in rows for k in r)) or ["(empty)"]
    shown = rows[:max_rows]
    title = title or ""
    if len(rows) > max_rows:
        title += f" (first {max_rows} of {len(rows)})"
    cells = [[format_cell(r.get(c), 1 if _ML_COLUMN.search(str(c)) else None) for r in shown] for c in columns]
    # A column is as wide as its longest cell and its header's longest word (plotly wraps headers
    # at spaces only: "sensitivity" over "0.733" would spill into the next header).
    # Plus 2 letters of cell padding, or the widest cell of a narrow column wraps.
    widths = [max(len(str(c)) * 0.6, *(len(w) for w in str(c).split()), *(len(v) for v in col), 4) + 2
              for c, col in zip(columns, cells)]
    # A table whose cells need more than the usual width gets a fixed, wider figure (the report's
    # output area scrolls sideways) rather than cells that wrap out of their fixed-height rows.
    table_px = max(LAYOUT_WIDTH_PX, LETTER_PX * sum(widths))
    # Headers wrap in narrow columns ("lesion precision" over "0.500"): room for the longest one.
    column_px = [table_px * w / sum(widths) for w in widths]
    lines = max(_wrapped_lines(str(c), px) for c, px in zip(columns, column_px))
    header_px = HEADER_PX + 18 * (min(lines, MAX_HEADER_LINES) - 1)
    fig = go.Figure(go.Table(header={"values": columns, "fill_color": "#e8eef7", "height": header_px},
                             cells={"values": cells, "height": ROW_PX}, columnwidth=widths))
    top = 40 if title else 10
    fig.update_layout(title=title or None, height=top + header_px + ROW_PX * min(len(shown), 20) + 20,
                      margin={"l": 10, "r": 10, "t": top, "b": 10})
    if table_px > LAYOUT_WIDTH_PX:
        fig.update_layout(width=round(table_px) + 20)
    return fig
