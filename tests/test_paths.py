"""Relative paths mean the project root, from the root or from notebooks/."""

from __future__ import annotations

from liverlib.paths import project_path, project_relative, project_root


def test_paths_resolve_against_the_nearest_pyproject(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # where JupyterLab starts a notebook's kernel
    assert project_root() == tmp_path.resolve()
    assert project_path("data") == tmp_path.resolve() / "data"
    assert project_relative(tmp_path / "outputs" / "runs" / "demo") == "outputs/runs/demo"
    assert project_relative("outputs/runs/demo") == "outputs/runs/demo"
    outside = tmp_path.parent / "elsewhere"
    assert project_path(outside) == outside and project_relative(outside) == str(outside.resolve())
