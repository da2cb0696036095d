"""The papermill batch and its offline HTML reports, on tiny stand-in notebooks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from liverlib.runner import RunError, parse_overrides, run_batch


def _notebook(path, body: str, params: str = "scale: int = 1  # a number\nrun_dir: str = 'x'  # run folder"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Step"),
        nbformat.v4.new_code_cell("import liverlib.notebook\nliverlib.notebook.setup()"),
        nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(body),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture
def project(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "01_make.ipynb", "import json, pathlib\nprint('made', scale)\n"
              "pathlib.Path(run_dir, 'made.json').write_text(json.dumps({'scale': scale}))")
    _notebook(nbs / "02_plot.ipynb", "import plotly.graph_objects as go\n"
              "go.Figure(go.Bar(x=['liver', 'tumor'], y=[scale, 2 * scale]))")
    cfg = tmp_path / "configs"
    cfg.mkdir()
    (cfg / "tiny.yaml").write_text(yaml.safe_dump({"description": "tiny", "parameters": {"scale": 3}}))
    return tmp_path


def _run(project, **kw):
    return run_batch("tiny", notebook_dir=project / "notebooks", config_dir=project / "configs",
                     runs_dir=project / "runs", **kw)


@pytest.mark.slow
def test_batch_runs_exports_and_skips(project):
    result = _run(project)
    run_dir = project / "runs" / "tiny"
    assert [s.status for s in result.steps] == ["ran", "ran"]
    assert json.loads((run_dir / "made.json").read_text()) == {"scale": 3}
    assert not list((project / "notebooks").glob("*.html"))  # nothing written beside the sources
    page = (run_dir / "02_plot.html").read_text()
    assert page.count("Plotly.newPlot(") == 1 and "plotly-graph-div" in page
    assert not re.search(r"<script[^>]+src=[\"']https?:", page), "a script is fetched from the network"
    assert not re.search(r"<link[^>]+href=[\"']https?:", page), "a stylesheet is fetched from the network"
    assert "jp-InputArea-editor\"" not in page  # code hidden by default
    assert "made 3" in (run_dir / "run.log").read_text()  # cell output reaches the batch log
    kernel_log = (run_dir / "kernel.log").read_text()  # each kernel's own output, after its step's name
    assert "--- 01_make: kernel started" in kernel_log and "--- 02_plot: kernel started" in kernel_log
    assert "<a href=\"kernel.log\">" in (run_dir / "index.html").read_text()
    index = (run_dir / "index.html").read_text()
    assert '<a href="01_make.html">' in index and "scale" in index
    again = _run(project)
    assert [s.status for s in again.steps] == ["skipped", "skipped"]
    index = (run_dir / "index.html").read_text()
    assert index.count("(when it ran)") == 2 and "This run: 0.0 s." in index  # skipped steps cost this run nothing
    changed = _run(project, overrides={"scale": 4})
    assert [s.status for s in changed.steps] == ["ran", "ran"]
    forced = _run(project, overrides={"scale": 4}, force=True, start="02_plot", keep_code=True)
    assert [s.status for s in forced.steps] == ["skipped", "ran"]
    assert "jp-InputArea-editor\"" in (run_dir / "02_plot.html").read_text()
    only = _run(project, overrides={"scale": 5}, only=["plot"])  # e.g. --only 01 04: no retraining
    assert [s.status for s in only.steps] == ["skipped", "ran"]
    assert json.loads((run_dir / "made.json").read_text()) == {"scale": 4}  # 01 kept, though its parameter changed
    assert "<td><code>5</code></td><td>01 (made with 4), 02</td>" in (run_dir / "index.html").read_text()
    fresh = _run(project, run_id="fresh", only=["02"])
    assert [s.status for s in fresh.steps] == ["skipped", "ran"]
    index = (project / "runs" / "fresh" / "index.html").read_text()
    assert "<td><code>3</code></td><td>01 (never ran in this run), 02</td>" in index


@pytest.mark.slow
def test_failing_notebook_is_named_with_cell_and_error(project):
    _notebook(project / "notebooks" / "02_plot.ipynb", "raise ValueError('liver mask is empty')")
    with pytest.raises(RunError, match=r"02_plot.ipynb: cell \d+ failed: ValueError: liver mask is empty"):
        _run(project)
    run_dir = project / "runs" / "tiny"
    assert (run_dir / "01_make.html").exists() and (run_dir / "02_plot.failed.html").exists()
    index = (run_dir / "index.html").read_text()
    assert "failed" in index and "<td>01, 02</td>" in index  # the failed step's parameters are listed too
    assert json.loads((run_dir / "steps.json").read_text())["02_plot"]["parameters"]["scale"] == 3


@pytest.mark.slow
def test_kernel_process_stderr_goes_to_the_run_folder_not_the_terminal(project, capfd):
    """TensorFlow's C++ start-up lines (``E0000 ... failed call to cuInit``) are written by the
    kernel's process to its own stderr, which reached the terminal of ``make demo``; now they go
    to ``kernel.log``, and a kernel that dies is named with its last words there."""
    _notebook(project / "notebooks" / "01_make.ipynb", "import os\nos.write(2, b'fd-level line\\n')\nprint('made')")
    _notebook(project / "notebooks" / "02_plot.ipynb", "import os\nos.write(2, b'last words\\n')\nos._exit(1)")
    with pytest.raises(RunError, match=r"02_plot.ipynb: .*DeadKernelError.*kernel's own output: \S*runs/tiny/kernel.log\)"):
        _run(project)
    terminal = capfd.readouterr().err
    assert "fd-level line" not in terminal and "last words" not in terminal
    log = (project / "runs" / "tiny" / "kernel.log").read_text()
    assert "fd-level line" in log and "last words" in log
    assert (project / "runs" / "tiny" / "01_make.html").exists()  # the step before ran as ever


@pytest.mark.slow
def test_steps_after_a_failure_are_listed_as_not_run(project):
    _notebook(project / "notebooks" / "01_make.ipynb", "raise ValueError('no studies')")
    with pytest.raises(RunError):
        _run(project)
    index = (project / "runs" / "tiny" / "index.html").read_text()
    assert "<td>02_plot</td><td class='skipped'>skipped</td><td>never ran in this run</td>" in index


def test_unknown_parameter_is_refused(project):
    with pytest.raises(ValueError, match="unknown parameter"):
        _run(project, overrides={"epoch": 3})


def test_unknown_only_step_is_refused(project):
    with pytest.raises(ValueError, match="--only 05: no such step"):
        _run(project, only=["01", "05"])


def test_a_model_from_another_run_is_part_of_the_fingerprint(tmp_path):
    """04 with model_dir reads another run's model: retraining or recalibrating that run makes 04 out of date."""
    from liverlib.step_state import step_fingerprint

    notebook = tmp_path / "04_evaluate.ipynb"
    notebook.write_text("{}")
    other = tmp_path / "demo"
    other.mkdir()
    (other / "best_model.keras").write_bytes(b"weights 1")
    params = {"model_dir": str(other), "max_cases": 48}
    before = step_fingerprint(notebook, params, "up")
    assert step_fingerprint(notebook, params, "up") == before
    (other / "best_model.keras").write_bytes(b"weights 2")
    retrained = step_fingerprint(notebook, params, "up")
    (other / "calibration.json").write_text('{"tumor_threshold": 0.4}')
    assert len({before, retrained, step_fingerprint(notebook, params, "up")}) == 3
    assert step_fingerprint(notebook, {"max_cases": 48}, "up") != before


DECODE = """import hashlib, json
from liverlib.paths import project_path
src = project_path(source)
digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(src.glob("*")))).hexdigest()
out = project_path(data_root) / "processed" / dataset / str(image_size)
out.mkdir(parents=True, exist_ok=True)
(out / "manifest.json").write_text(json.dumps({"fingerprint": digest}))
print("decoded", len(list(src.glob("*"))))"""
DECODE_PARAMS = ("source: str = 'studies'  # studies\ndataset: str = 'd'  # name\nimage_size: int = 8  # px\n"
                 "data_root: str = 'data'  # data\nrun_dir: str = 'x'  # run folder")


@pytest.mark.slow
def test_data_and_code_changes_make_steps_out_of_date(tmp_path, monkeypatch):
    """A rerun is skipped only while the data a decoding step left, its studies and liverlib's code are unchanged."""
    import liverlib.step_state as step_state

    (tmp_path / "pyproject.toml").write_text("")  # the project root: relative paths resolve here
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "01_decode.ipynb", DECODE, DECODE_PARAMS)
    _notebook(nbs / "02_use.ipynb", "print('used')", "run_dir: str = 'x'  # run folder")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny.yaml").write_text(yaml.safe_dump({"description": "tiny", "parameters": {}}))
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "a.dcm").write_bytes(b"study a")

    def statuses():
        return [s.status for s in _run(tmp_path).steps]

    assert statuses() == ["ran", "ran"]
    assert statuses() == ["skipped", "skipped"]
    (tmp_path / "data" / "processed" / "d" / "8" / "manifest.json").unlink()  # make clean-data
    assert statuses() == ["ran", "skipped"]  # rebuilt as it was: the next step's input is the same
    (tmp_path / "studies" / "b.dcm").write_bytes(b"study b")  # a new study
    assert statuses() == ["ran", "ran"]
    assert statuses() == ["skipped", "skipped"]
    monkeypatch.setattr(step_state, "code_digest", lambda: "liverlib of another commit")
    assert statuses() == ["ran", "ran"]


def test_overrides_are_typed():
    assert parse_overrides([["epochs", "5"], ["source", "data/raw/x"], ["windows", "[[60, 400]]"]]) == {
        "epochs": 5, "source": "data/raw/x", "windows": [[60, 400]]}


@pytest.mark.parametrize("profile", ["smoke", "demo", "full"])
def test_every_profile_parameter_reaches_a_notebook(profile):
    """A misspelt key in configs/*.yaml would be dropped without a word: each must be declared by a notebook."""
    from liverlib.runner import declared_parameters, load_profile

    root = Path(__file__).resolve().parents[1]
    declared = set().union(*(set(declared_parameters(nb)) for nb in (root / "notebooks").glob("*.ipynb")))
    keys = set(load_profile(profile, root / "configs")["parameters"])
    assert keys and not keys - declared, keys - declared


def test_notebook_defaults_are_the_demo_profile():
    """A notebook run by hand after `make demo` must not redo a step with other settings (a rebuilt
    dataset, a retrained model): every default a notebook declares is the demo profile's value."""
    import ast

    from liverlib.runner import declared_parameters, load_profile

    root = Path(__file__).resolve().parents[1]
    demo = load_profile("demo", root / "configs")["parameters"]
    checked = 0
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        for key, info in declared_parameters(nb).items():
            if key in demo:
                default = json.loads(json.dumps(ast.literal_eval(info["default"])))
                assert default == demo[key], f"{nb.name}: {key} = {default!r}, demo profile {demo[key]!r}"
                checked += 1
    assert checked >= len(demo)  # each profile key is declared by at least one notebook


@pytest.mark.parametrize("argv, words", [
    (["run", "--profile", "demoo"], "demoo.yaml: no such profile (known: demo, full, smoke)"),
    (["run", "--profile", "smoke", "-p", "epoch", "3"], "unknown parameter(s) epoch"),
    (["run", "--profile", "smoke", "--from", "07"], "--from 07: no such step"),
    (["decode", "no/such/folder", "--dataset", "x"], "StudyError: no/such/folder: does not exist"),
    (["predict", "no/such/study", "--model", "m.keras", "--out", "o"], "StudyError: no/such/study: does not exist"),
])
def test_command_line_mistakes_are_one_line_not_a_traceback(argv, words, capsys, tmp_path):
    from liverlib.cli import main

    assert main(argv + (["--runs-dir", str(tmp_path)] if argv[0] == "run" else [])) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"liverlib {argv[0]}: error: ") and words in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_batch_log_keeps_printed_lines_without_their_newline_and_drops_widget_stand_ins():
    import logging

    from liverlib.runner import _BatchLogFilter

    def record(text, *args):
        return logging.LogRecord("papermill", logging.INFO, __file__, 1, text, args, None)

    keep = _BatchLogFilter()
    printed = record("decode %d of 48 not yet cached: decoded ircadb-1 (0.5 s)\n", 1)
    assert keep.filter(printed) and printed.getMessage() == "decode 1 of 48 not yet cached: decoded ircadb-1 (0.5 s)"
    assert not keep.filter(record("VBox(children=(HBox(children=(Dropdown(description='case', options=('a',)"))
    assert not keep.filter(record("\n")) and not keep.filter(record("Executing Cell 4---------"))
    table_row = record("    axial    0.957\n")
    assert keep.filter(table_row) and table_row.getMessage() == "    axial    0.957"  # its indent kept
    assert keep.filter(record("Epoch 3/12: loss 0.71 (description=ok)"))  # a line that merely mentions one
    assert not keep.filter(record("E0000 00:00:1796069810.412659   32429 cuda_platform.cc:52] failed call to cuInit"))
    assert not keep.filter(record("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"))


def test_a_kernel_that_dies_before_starting_points_to_its_log():
    """jupyter_client raises a RuntimeError when the kernel dies before replying (a broken
    environment): its traceback is in kernel.log, so the message says where; a cell's own error
    (it carries ``ename``) does not."""
    from types import SimpleNamespace

    from liverlib.runner import _failure_message

    died = _failure_message(Path("03_train.ipynb"), RuntimeError("Kernel died before replying to kernel_info"),
                            "outputs/runs/demo/kernel.log")
    assert died.endswith("RuntimeError: Kernel died before replying to kernel_info "
                         "(the kernel's own output: outputs/runs/demo/kernel.log)")
    cell = SimpleNamespace(ename="ValueError", evalue="liver mask is empty", exec_count=4)
    assert _failure_message(Path("03_train.ipynb"), cell, "outputs/runs/demo/kernel.log") == (
        "03_train.ipynb: cell 4 failed: ValueError: liver mask is empty")
