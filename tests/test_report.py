"""Report export details: framework start-up noise."""

from __future__ import annotations

import nbformat

from liverlib.report import drop_stderr_noise


def test_stderr_noise_is_dropped_and_real_warnings_kept():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("import liverlib")
    noise = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
             "E0000 00:00:1795828247.753510   15846 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=noise),
        nbformat.v4.new_output("stream", name="stderr", text=noise + "UserWarning: 3 studies have no label\n"),
        nbformat.v4.new_output("stream", name="stdout", text="I0000 kept on stdout\n"),
    ]
    nb.cells = [cell]
    assert drop_stderr_noise(nb) == 4
    assert [o.get("text") for o in cell.outputs] == ["UserWarning: 3 studies have no label\n", "I0000 kept on stdout\n"]
