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


def test_a_symlinked_or_climbing_path_records_no_local_path(tmp_path, monkeypatch):
    project, disk = tmp_path / "project", tmp_path / "other_disk"
    (project / "data" / "raw").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (disk / "cohort").mkdir(parents=True)
    (project / "data" / "raw" / "my_cohort").symlink_to(disk / "cohort")
    monkeypatch.chdir(project)
    assert project_relative("data/raw/my_cohort") == "data/raw/my_cohort"  # not /.../other_disk/cohort
    assert project_relative("../other_disk/cohort") == str((disk / "cohort").resolve())  # outside: absolute, no ".."
