"""Self-contained HTML reports of executed notebooks, and the run's index.html.

A report opens from disk with no kernel and no network: plotly figures (the
``application/vnd.plotly.v1+json`` outputs) become inline ``<div>`` +
``Plotly.newPlot`` scripts with plotly.js embedded once in the page head, images
are inline data URIs, and the template fetches nothing from a CDN (no
require.js, MathJax or widget manager). Code cells are hidden unless asked.
Widgets, which need a live kernel, are replaced by a short note.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from liverlib.atomic import write_text
from liverlib.evaluation_result import AUC_INTERVAL, gain_text, interval_text
from liverlib.paths import project_path
from liverlib.training_summary import read_training_summary

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
TEMPLATES = Path(__file__).parent / "templates"
WIDGET_NOTE = (
    '<div class="liverlib-widget-note" style="padding:6px;border:1px dashed #999;color:#555">'
    "Interactive viewer: open this notebook in JupyterLab to use it. "
    "The slider figures in this report work without a kernel.</div>"
)


def _figure_html(spec: dict, div_id: str) -> str:
    data = json.dumps(spec.get("data", []), separators=(",", ":"))
    layout = json.dumps(spec.get("layout", {}), separators=(",", ":"))
    frames = spec.get("frames")
    config = json.dumps({"responsive": True, "displaylogo": False})
    height = (spec.get("layout") or {}).get("height") or 450
    script = (
        f"Plotly.newPlot('{div_id}', {{data: {data}, layout: {layout}"
        + (f", frames: {json.dumps(frames, separators=(',', ':'))}" if frames else "")
        + f", config: {config}}});"
    )
    return (
        f'<div id="{div_id}" class="plotly-graph-div" style="height:{int(height)}px;width:100%"></div>'
        f'<script type="text/javascript">{script}</script>'
    )


#: Start-up lines TensorFlow/XLA print to stderr (absl logging ignores
#: TF_CPP_MIN_LOG_LEVEL in recent releases): noise in a report, e.g.
#: "E0000 00:00:1795828247.75 15846 cuda_platform.cc:52] failed call to cuInit".
STDERR_NOISE = re.compile(r"^([IWE]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]|WARNING: All log messages before absl)")


def drop_stderr_noise(nb) -> int:
    """Remove framework start-up lines from stderr outputs (empty outputs go too).

    Returns:
        The number of lines removed.
    """
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = output.get("text", "").splitlines(keepends=True)
                clean = [line for line in lines if not STDERR_NOISE.match(line)]
                removed += len(lines) - len(clean)
                if not "".join(clean).strip():
                    continue
                output["text"] = "".join(clean)
            kept.append(output)
        cell["outputs"] = kept
    return removed


def inline_outputs(nb) -> int:
    """Turn plotly and widget outputs into static HTML. Returns the figure count."""
    figures = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                figures += 1
                spec = data[PLOTLY_MIME]
                spec = json.loads(spec) if isinstance(spec, str) else spec
                output["data"] = {"text/html": _figure_html(spec, f"liverlib-fig-{figures}")}
            elif WIDGET_MIME in data:
                output["data"] = {"text/html": WIDGET_NOTE}
    return figures


def export_html(notebook: str | Path, out: str | Path, *, keep_code: bool = False) -> Path:
    """Export an executed notebook to one self-contained HTML file.

    Args:
        notebook: The executed ``.ipynb``.
        out: The ``.html`` to write (temporary name, then rename).
        keep_code: Show the code cells (hidden by default).

    Returns:
        The written path.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    drop_stderr_noise(nb)
    figures = inline_outputs(nb)
    nb.metadata.pop("widgets", None)
    exporter = HTMLExporter(
        template_name="liverlib_report",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=not keep_code,
        exclude_input_prompt=not keep_code,
        exclude_output_prompt=True,
        embed_images=True,
    )
    resources = {"plotly_js": _plotly_js() if figures else ""}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return write_text(Path(out), body)


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def headline_metrics(run_dir: Path) -> dict:
    """Liver/tumor Dice and cancer AUC per view and fused, from metrics.json."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return {}
    metrics = json.loads(path.read_text())
    return metrics.get("headline", {})


#: How headline rows read on the index page: slice-level views, then the 3D result.
ROW_LABELS = {"all views": "all slices", "fused": "fused 3D"}
#: What the fused row means, under the table.
FUSED_NOTE = ("Fused 3D: the three views are averaged into one volume per test patient and read back on {slices}. "
              "Its label is the argmax{tumor_rule}. A slice's cancer score is the largest tumor probability all three views agree on "
              "(their geometric mean) inside the predicted liver, averaged with the largest within 6 mm of the slice. "
              "04_evaluate also scores each patient in 3D (mean Dice over patients, per view and fused).")


def fused_note(headline: dict) -> str:
    """What the fused headline row means, with how many test slices it covers ('' for older metrics.json)."""
    fused, everything = headline.get("fused", {}), headline.get("all views", {})
    if "cancer_auc" not in fused:  # written before the fused row was scored per slice
        return ""
    n, total = fused.get("n_slices"), everything.get("n_slices")
    if n is not None and total is not None and n < total:
        slices = f"{n} of the {total} test slices (those of the studies predicted in 3D; 04's max_cases)"
    else:
        slices = "the same test slices as the rows above"
    threshold = fused.get("tumor_threshold", 0.5)
    rule = ("" if threshold >= 0.5 else
            f", plus tumor wherever the tumor probability reaches {threshold:g} inside the liver; that threshold was "
            f"{fused.get('tumor_threshold_source', 'set by the caller')}")
    note = FUSED_NOTE.format(slices=slices, tumor_rule=rule)
    gain = gain_text(fused.get("cancer_auc_gain_over_head"), fused.get("cancer_auc_gain_over_head_ci95"))
    if gain:
        note += (f" The fused cancer AUC minus the cancer head's on the same slices: {gain}, the interval from resampling "
                 "the same patients for both (an interval holding 0 does not tell the two apart).")
    return note


def _metrics_figure(headline: dict) -> dict | None:
    rows = [(ROW_LABELS.get(name, name), vals) for name, vals in headline.items() if isinstance(vals, dict)]
    if not rows:
        return None
    names = [n for n, _ in rows]
    keys = ["liver_dice", "tumor_dice", "cancer_auc"]
    data = [
        {"type": "bar", "name": key.replace("_", " "), "x": names, "y": [v.get(key) for _, v in rows]}
        for key in keys
        if any(v.get(key) is not None for _, v in rows)
    ]
    layout = {"barmode": "group", "height": 360, "title": {"text": "Test split: Dice and AUC per view and fused"},
              "yaxis": {"range": [0, 1]}, "margin": {"t": 50, "b": 40}}
    return {"data": data, "layout": layout}


def _step_time(step) -> str:
    if step.status != "skipped":
        return f"{step.seconds:.1f} s"
    return f"{step.seconds:.1f} s (when it ran)" if step.html else "never ran in this run"


def other_model_dir(run_dir: Path) -> str | None:
    """The run folder whose model this run's 04 scored (``model_dir`` in metrics.json), None when its own."""
    path = Path(run_dir) / "metrics.json"
    model_dir = json.loads(path.read_text()).get("model_dir") if path.exists() else None
    if not model_dir or project_path(model_dir).resolve() == project_path(run_dir).resolve():
        return None
    return model_dir


def model_source(run_dir: Path) -> str:
    """'' when the run evaluated its own model, else a sentence naming the run whose model it scored."""
    model_dir = other_model_dir(run_dir)
    if model_dir is None:
        return ""
    return (f"The metrics score another run's model, {model_dir}/best_model.keras (04's model_dir), "
            "on this run's dataset: that run's own metrics are in its folder.")


def rerun_training(run_dir: Path, profile: str) -> str:
    """The command that continues a cut training run in ``run_dir`` (03 and 04 again), as a sentence start.

    ``--force``: the batch skips an unchanged step, and a cut 03 is unchanged.
    """
    run_id = "" if Path(run_dir).name == profile else f" --run-id {Path(run_dir).name}"
    options = run_options(run_dir, profile)
    if options is None:
        return (f"python -m liverlib run --profile {profile}{run_id} --from 03_train --force "
                "(with this run's -p options, if it had any)")
    return f"python -m liverlib run --profile {profile}{run_id}{options} --from 03_train --force"


def run_options(run_dir: Path, profile: str) -> str | None:
    """The ``-p key value`` options the run's steps ran with, beyond its profile (``steps.json``
    against ``configs/<profile>.yaml``), e.g. `` -p epochs 20 -p max_minutes 0``; None when the
    profile cannot be read (then nobody can say).

    ``steps.json`` keeps the parameters the batch passed each step (the profile's and the ``-p``
    ones), never a notebook's own defaults: a key the profile lacks was given with ``-p``.
    """
    import shlex

    from liverlib.runner import CONFIG_DIR, load_profile
    from liverlib.step_state import read_state

    try:
        profile_values = load_profile(profile, project_path(CONFIG_DIR))["parameters"]
    except (OSError, ValueError):
        return None
    ran: dict = {}
    for step in read_state(Path(run_dir)).values():
        ran.update(step.get("parameters") or {})
    changed = {k: v for k, v in sorted(ran.items())
               if k != "run_dir" and (k not in profile_values or v != profile_values[k])}
    return "".join(f" -p {k} {shlex.quote(v if isinstance(v, str) else json.dumps(v))}" for k, v in changed.items())


def training_note(run_dir: Path, profile: str) -> str:
    """How the scored model's training ended ('' when no training history is found).

    The model is this run's, or another run's when 04 scored that one
    (``model_dir`` in metrics.json): the sentence is about the model the
    headline metrics describe.
    """
    model_dir = other_model_dir(run_dir)
    if model_dir is not None:
        summary = read_training_summary(project_path(model_dir), "That run's batch command with --from 03_train --force")
        return f"Training of the scored model ({model_dir}): {summary}" if summary else ""
    summary = read_training_summary(run_dir, rerun_training(run_dir, profile))
    return f"Training (03_train): {summary}" if summary else ""


def parameter_readers(key: str, value, steps) -> str:
    """Which steps read a parameter, and where a step's outputs were made with another value.

    A run given ``--only 01 04`` still lists the profile's training
    parameters: this says that 03 never ran here, or that its model was
    trained with ``epochs`` 12 while this invocation says 30.

    Returns:
        e.g. ``"01, 04"``, ``"03 (never ran in this run)"``, ``"03 (made with 12)"``,
        ``"04 (made with the notebook's default)"`` or, for outputs of a run
        state that did not record its parameters, ``"03 (value not recorded)"``.
    """
    def text(v):
        return json.dumps(v, sort_keys=True, default=str)

    parts = []
    for step in steps:
        if key not in step.declared:
            continue
        label = step.name.split("_")[0]
        if step.parameters is None:
            made = step.html or step.status != "skipped"
            parts.append(f"{label} (value not recorded)" if made else f"{label} (never ran in this run)")
        elif key not in step.parameters:
            parts.append(f"{label} (made with the notebook's default)")
        elif text(step.parameters[key]) != text(value):
            parts.append(f"{label} (made with {text(step.parameters[key])})")
        else:
            parts.append(label)
    return ", ".join(parts)


def write_index(run_dir: str | Path, result, description: str = "") -> Path:
    """Write ``index.html``: parameters, headline metrics, timings, links."""
    run_dir = Path(run_dir)
    headline = headline_metrics(run_dir)
    esc = html.escape
    # What the kernels' processes printed themselves (runner.KERNEL_LOG), when a batch wrote it.
    log = run_dir / "kernel.log"
    kernel_log = '; the kernels\' own output: <a href="kernel.log">kernel.log</a>' if log.exists() and log.stat().st_size else ""
    step_rows = "".join(
        f"<tr><td>{esc(s.name)}</td><td class='{esc(s.status)}'>{esc(s.status)}</td>"
        f"<td>{_step_time(s)}</td>"
        f"<td>{f'<a href={chr(34)}{esc(s.html)}{chr(34)}>report</a>' if s.html else ''}</td>"
        f"<td>{esc(s.error)}</td></tr>"
        for s in result.steps
    )
    param_rows = "".join(
        f"<tr><td>{esc(k)}</td><td><code>{esc(json.dumps(v, default=str))}</code></td>"
        f"<td>{esc(parameter_readers(k, v, result.steps))}</td></tr>"
        for k, v in sorted(result.parameters.items())
    )
    metric_rows = "".join(
        f"<tr><td>{esc(ROW_LABELS.get(name, name))}</td>" + "".join(
            f"<td>{'' if vals.get(k) is None else f'{vals[k]:.3f}'}</td>" for k in ("liver_dice", "tumor_dice", "cancer_auc")
        ) + f"<td>{esc(interval_text(vals.get('cancer_auc_ci95')))}</td></tr>"
        for name, vals in headline.items() if isinstance(vals, dict)
    )
    figure = _metrics_figure(headline)
    plot = _figure_html(figure, "liverlib-fig-1") if figure else ""
    plotly = f'<script type="text/javascript">{_plotly_js()}</script>' if figure else ""
    total = sum(s.seconds for s in result.steps if s.status != "skipped")  # this run's time, not the earlier runs'
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>liverlib run {esc(run_dir.name)}</title>
{plotly}
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.failed{{color:#b00;font-weight:bold}}.ran{{color:#070}}</style>
</head><body>
<h1>liverlib run <code>{esc(run_dir.name)}</code></h1>
<p>Profile <b>{esc(result.profile)}</b>. {esc(description)}</p>
<h2>Headline metrics (test split)</h2>
{"<table><tr><th>view</th><th>liver Dice</th><th>tumor Dice</th><th>cancer AUC</th><th>" + AUC_INTERVAL + "</th></tr>" + metric_rows + "</table>" if metric_rows else "<p>No metrics yet (04_evaluate has not run).</p>"}
{f"<p><b>{esc(source)}</b></p>" if (source := model_source(run_dir)) else ""}
{f"<p>{esc(note)}</p>" if (note := fused_note(headline)) else ""}
{f"<p>{esc(trained)}</p>" if (trained := training_note(run_dir, result.profile)) else ""}
{plot}
<h2>Steps</h2>
<table><tr><th>notebook</th><th>status</th><th>time</th><th>report</th><th>error</th></tr>{step_rows}</table>
<p>This run: {total:.1f} s. Log: <a href="run.log">run.log</a>{kernel_log}.</p>
<h2>Parameters</h2>
<table><tr><th>name</th><th>value</th><th>read by</th></tr>{param_rows}</table>
</body></html>
"""
    return write_text(run_dir / "index.html", page)
