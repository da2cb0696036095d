import math

from liverlib import figures_eval, figures_explore
from liverlib.tables import HEADER_PX, ROW_PX, format_cell, table_figure


def test_format_cell_decimals_by_magnitude():
    assert format_cell(0.94137) == "0.941"  # a Dice
    assert format_cell(23.0971) == "23.1"  # a volume error in mL
    assert format_cell(1450.12) == "1450"  # a liver volume in mL
    assert format_cell(-3.5) == "-3.500"
    assert format_cell(None) == format_cell(math.nan) == "n/a"
    assert format_cell(7) == "7" and format_cell("ircadb-5172e836ac") == "ircadb-5172e836ac"


def test_table_figure_cells_widths_and_height():
    rows = [{"case": "ircadb-5172e836ac", "tumor Dice": 0.5}, {"case": "b", "liver_ml": 1450.123}]
    fig = table_figure(rows, "t")
    table = fig.data[0]
    assert list(table.header.values) == ["case", "tumor Dice", "liver_ml"]
    assert [list(c) for c in table.cells.values] == [["ircadb-5172e836ac", "b"], ["0.500", "n/a"], ["n/a", "1450"]]
    assert table.columnwidth[0] > 2 * table.columnwidth[1]  # the case id gets room, numbers less
    assert fig.layout.height == 40 + HEADER_PX + 2 * ROW_PX + 20  # fitted to two rows, no white space
    assert table_figure(rows * 30).layout.height == 10 + HEADER_PX + 20 * ROW_PX + 20  # long tables scroll


def test_table_figure_empty_and_cut():
    empty = table_figure([], columns=["stage", "reason"])
    assert list(empty.data[0].header.values) == ["stage", "reason"]
    assert all(len(col) == 0 for col in empty.data[0].cells.values)
    cut = table_figure([{"a": i} for i in range(5)], title="rows", max_rows=3)
    assert cut.layout.title.text == "rows (first 3 of 5)" and len(cut.data[0].cells.values[0]) == 3


def test_reports_share_the_one_table():
    assert figures_eval.table_figure is figures_explore.table_figure is table_figure
