import math

import numpy as np

from liverlib import figures_eval, figures_explore
from liverlib.tables import HEADER_PX, ROW_PX, _wrapped_lines, format_cell, table_figure


def test_format_cell_decimals_by_magnitude():
    assert format_cell(0.94137) == "0.941"  # a Dice
    assert format_cell(23.0971) == "23.1"  # a volume error in mL
    assert format_cell(1450.12) == "1450"  # a liver volume in mL
    assert format_cell(-3.5) == "-3.500"
    assert format_cell(None) == format_cell(math.nan) == "n/a"
    assert format_cell(7) == "7" and format_cell("ircadb-5172e836ac") == "ircadb-5172e836ac"
    assert format_cell(np.float32(0.94137)) == "0.941" and format_cell(np.float32("nan")) == "n/a"
    assert format_cell(np.int64(12)) == "12" and format_cell(True) == "True"
    assert format_cell(6.988, decimals=1) == "7.0"


def test_table_figure_cells_widths_and_height():
    rows = [{"case": "ircadb-5172e836ac", "tumor Dice": 0.5}, {"case": "b", "liver_ml": 1450.123, "tumor mL error": 6.988}]
    fig = table_figure(rows, "t")
    table = fig.data[0]
    assert list(table.header.values) == ["case", "tumor Dice", "liver_ml", "tumor mL error"]
    assert [list(c) for c in table.cells.values] == [["ircadb-5172e836ac", "b"], ["0.500", "n/a"], ["n/a", "1450.1"],
                                                     ["n/a", "7.0"]]  # mL columns: one decimal at any size
    assert table.columnwidth[0] > 2 * table.columnwidth[1]  # the case id gets room, numbers less
    # A header word is never wider than its column: "sensitivity" over "0.733" widens the column.
    head_word = table_figure([{"sensitivity": 0.733, "AUC": 0.733}]).data[0].columnwidth
    assert head_word[0] - head_word[1] >= len("sensitivity") - len("0.733")  # same cells, wider header word
    assert fig.layout.width is None  # narrow tables fill the page
    many = table_figure([{f"column {i}": "+0.049 (-0.028 to +0.102)" for i in range(8)}])
    assert many.layout.width >= 8 * len("+0.049 (-0.028 to +0.102)") * 7  # wide ones get the room their cells need
    short = table_figure([{"a": 1}, {"a": 2}], "t")
    assert short.layout.height == 40 + HEADER_PX + 2 * ROW_PX + 20  # fitted to two rows, no white space
    assert table_figure([{"a": 1}] * 60).layout.height == 10 + HEADER_PX + 20 * ROW_PX + 20  # long tables scroll
    # Long headers over narrow number columns wrap: the header row grows and the figure with it.
    wide = table_figure([{"case": "ircadb-5172e836ac", **{f"lesion precision {i}": 0.5 for i in range(8)}}])
    assert wide.data[0].header.height > HEADER_PX and wide.layout.height == 10 + wide.data[0].header.height + ROW_PX + 20


def test_headers_wrap_by_words():
    # 7 letters a line: "fused AUC gain" is 14 letters (2 lines by length) but wraps as fused / AUC / gain.
    assert _wrapped_lines("fused AUC gain", 8 + 7 * 7) == 3
    assert _wrapped_lines("fused AUC gain", 1000) == 1
    assert _wrapped_lines("AUC interval", 8 + 7 * 3) == 2  # words are not broken
    assert _wrapped_lines("", 50) == 1


def test_table_figure_empty_and_cut():
    empty = table_figure([], columns=["stage", "reason"])
    assert list(empty.data[0].header.values) == ["stage", "reason"]
    assert all(len(col) == 0 for col in empty.data[0].cells.values)
    cut = table_figure([{"a": i} for i in range(5)], title="rows", max_rows=3)
    assert cut.layout.title.text == "rows (first 3 of 5)" and len(cut.data[0].cells.values[0]) == 3


def test_reports_share_the_one_table():
    assert figures_eval.table_figure is figures_explore.table_figure is table_figure
