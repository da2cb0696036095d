"""Exploration figures: rendering, histograms, class balance, montage, static sliders."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from liverlib import figures_explore as fx
from liverlib.build_dataset import build_slice_dataset
from liverlib.interim import save_case, write_cases
from liverlib.render import render_slice
from liverlib.slice_dataset import SPLITS, VIEWS
from liverlib.views import view_slices
from liverlib.volume import Volume

LIVER_HU, TUMOR_HU, BODY_HU = 110, 45, 20


def tiny_volume(case_id: str, tumor: bool, shift: int = 0) -> Volume:
    """A 30x48x48 'abdomen': soft-tissue ellipse in air, a liver block on the
    patient's right-anterior side (small x, small y), and maybe a tumor in it."""
    nz, ny, nx = 30, 48, 48
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    hu = np.full((nz, ny, nx), -1000, np.int16)
    body = ((y - 24) / 20.0) ** 2 + ((x - 24) / 22.0) ** 2 <= 1
    hu[body] = BODY_HU
    label = np.zeros(hu.shape, np.uint8)
    liver = body & (z >= 8 + shift) & (z < 24) & (y >= 10) & (y < 26) & (x >= 8) & (x < 24)
    label[liver] = 1
    hu[liver] = LIVER_HU
    if tumor:
        ball = (z - 16) ** 2 + (y - 18) ** 2 + (x - 15) ** 2 <= 9
        label[ball] = 2
        hu[ball] = TUMOR_HU
    return Volume(hu=hu, spacing=(2.5, 1.5, 1.5), case_id=case_id, label=label)


def make_interim(folder, splits=("train", "valid", "test")) -> list[dict]:
    """Three cached cases (two with a tumor) and their cases.csv."""
    rows = []
    for k, split in enumerate(splits):
        vol = tiny_volume(f"case-{k}", tumor=k != 1, shift=k)
        save_case(folder, vol)
        n_liver = int((vol.label > 0).sum())
        n_tumor = int((vol.label == 2).sum())
        rows.append({"case_id": vol.case_id, "layout": "test", "shape": "30x48x48", "spacing": "2.5x1.5x1.5",
                     "liver_ml": n_liver * vol.voxel_ml, "tumor_ml": n_tumor * vol.voxel_ml,
                     "n_lesions": int(n_tumor > 0), "split": split})
    write_cases(folder, rows)
    return rows


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    interim = root / "interim" / "tiny"
    rows = make_interim(interim)
    processed = root / "processed" / "tiny" / "32"
    manifest = build_slice_dataset(interim, processed, image_size=32, spacing_mm=2.0, progress=False,
                                   liver_free_fraction=0.5, slice_stride=1)
    from liverlib.interim import read_cases

    return {"interim": interim, "processed": processed, "manifest": manifest, "rows": read_cases(interim),
            "written": rows}


def decode_uri(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_hu_histograms_peaks_at_tissue_hu(cohort):
    fig = fx.hu_histograms(cohort["interim"])
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {"body", "liver", "tumor"}
    for name, hu in (("liver", LIVER_HU), ("tumor", TUMOR_HU), ("body", BODY_HU)):
        x, y = np.asarray(traces[name].x), np.asarray(traces[name].y)
        assert abs(x[np.argmax(y)] - hu) <= 5
        assert y.sum() == pytest.approx(100.0)


def test_class_balance_matches_manifest(cohort):
    fig = fx.class_balance(cohort["processed"], cohort["manifest"])
    traces = {t.name: t for t in fig.data}
    counts = cohort["manifest"]["counts"]
    cancer = [counts[s][v]["cancer"] for s in SPLITS for v in VIEWS]
    total = [counts[s][v]["n"] for s in SPLITS for v in VIEWS]
    assert list(traces["cancer"].y) == cancer
    assert [a + b for a, b in zip(traces["cancer"].y, traces["no cancer"].y)] == total
    assert sum(cancer) > 0
    # The no-tumor case (valid) has no tumor pixels; the others do.
    tumor = dict(zip(zip(*traces["tumor pixels"].x), traces["tumor pixels"].y))
    assert all(tumor[("valid", v)] == 0 for v in VIEWS)
    assert tumor[("train", "axial")] > 0
    liver = traces["liver pixels"].y
    assert all(0 < share < 100 for share in liver)


def test_volume_distributions_one_point_per_case(cohort):
    fig = fx.volume_distributions(cohort["rows"])
    liver = [t for t in fig.data if t.xaxis == "x"]
    assert sorted(t.name for t in liver) == sorted(SPLITS)
    values = sorted(v for t in liver for v in t.y)
    assert values == pytest.approx(sorted(r["liver_ml"] for r in cohort["written"]), abs=0.01)


def test_pick_cases_prefers_tumor_cases(cohort):
    assert fx.pick_cases(cohort["rows"], 2) == ["case-0", "case-2"]
    assert len(fx.pick_cases(cohort["rows"], 10)) == 3


def test_montage_shows_liver_centre_of_each_view(cohort):
    fig = fx.montage(cohort["interim"], ["case-0", "case-1"], spacing_mm=2.0, image_size=32)
    assert len(fig.data) == 6
    # The second row's titles sit in a gap of >= 30 px above its images, not on the first row's images.
    plot_px = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    gap = fig.layout.yaxis.domain[0] - fig.layout.yaxis4.domain[1]
    assert gap * plot_px >= 30
    cube_hu, cube_label = fx.load_cube(cohort["interim"], "case-0", 2.0, 32)
    for trace, view in zip(fig.data[:3], VIEWS):
        image = decode_uri(trace.source)
        assert image.shape == (32, 32, 3)
        labels = view_slices(cube_label, view)
        k = fx.centre_slice(labels)
        assert labels[k].any()
        expected = render_slice(view_slices(cube_hu, view)[k], labels[k])
        assert np.array_equal(image, expected)


def test_montage_and_cubes_follow_the_dataset_crop(cohort):
    body_hu, body_label = fx.load_cube(cohort["interim"], "case-0", 2.0, 32)
    box_hu, box_label = fx.load_cube(cohort["interim"], "case-0", 2.0, 32, crop="liver", liver_margin_mm=4.0)
    assert (box_label > 0).sum() > (body_label > 0).sum()  # the liver fills more of a box around it
    fig = fx.montage(cohort["interim"], ["case-0"], spacing_mm=2.0, image_size=32, crop="liver", liver_margin_mm=4.0)
    k = fx.centre_slice(box_label)  # axial: the first panel
    assert np.array_equal(decode_uri(fig.data[0].source), render_slice(box_hu[k], box_label[k]))
    assert "around the liver" in fig.layout.title.text
    sliders = fx.slice_slider_figures(cohort["interim"], "case-0", spacing_mm=2.0, image_size=32, n_steps=3,
                                      crop="liver", liver_margin_mm=4.0)
    assert decode_uri(sliders[0].data[0].source).shape == (32, 32, 3)
    # ... and the dataset's anti-aliasing: a dataset built before it is shown unblurred, as it was cut.
    coarse = {"crop": "liver", "liver_margin_mm": 4.0}  # at a 3 mm step: 1.5 mm pixels blurred by 0.5 pixel
    plain_hu, plain_label = fx.load_cube(cohort["interim"], "case-0", 3.0, 32, **coarse, antialias=False)
    assert not np.array_equal(plain_hu, fx.load_cube(cohort["interim"], "case-0", 3.0, 32, **coarse)[0])
    from liverlib.cohort_pipeline import DatasetInfo

    older = DatasetInfo(cohort["interim"], cohort["interim"], [], coarse, 3.0)
    assert older.cube == {**coarse, "antialias": False}
    plain = fx.montage(cohort["interim"], ["case-0"], spacing_mm=3.0, image_size=32, **older.cube)
    k = fx.centre_slice(plain_label)
    assert np.array_equal(decode_uri(plain.data[0].source), render_slice(plain_hu[k], plain_label[k]))


def test_slice_slider_figure_is_static_and_small(cohort):
    fig = fx.slice_slider_figure(cohort["interim"], "case-0", "coronal", spacing_mm=2.0, image_size=32, n_steps=5)
    n = len(fig.data)
    assert 2 <= n <= 5
    assert sum(bool(t.visible) for t in fig.data) == 1
    slider = fig.layout.sliders[0]
    assert len(slider.steps) == n
    for i, step in enumerate(slider.steps):
        assert step.method == "update"
        assert step.args[0]["visible"] == [j == i for j in range(n)]
    _, cube_label = fx.load_cube(cohort["interim"], "case-0", 2.0, 32)
    shown = [int(step.label) for step in slider.steps]
    assert all(view_slices(cube_label, "coronal")[k].any() for k in shown)
    html = fig.to_html(include_plotlyjs=False, full_html=False)
    assert len(html) < 100_000


def test_slice_slider_figures_one_per_view(cohort):
    figs = fx.slice_slider_figures(cohort["interim"], "case-2", spacing_mm=2.0, image_size=32, n_steps=3)
    assert [f.layout.sliders[0].currentvalue.prefix.split()[0] for f in figs] == list(VIEWS)
    assert fx.slice_slider_figures(cohort["interim"], None) == []
    with pytest.raises(ValueError, match="view"):
        fx.slice_slider_figure(cohort["interim"], "case-2", "oblique", image_size=32)


def test_phase_counts_per_split():
    from liverlib.figures_explore import phase_counts

    cases = [{"split": "train", "contrast_phase": "portal venous"}, {"split": "train", "contrast_phase": "unenhanced"},
             {"split": "train", "contrast_phase": "portal venous"}, {"split": "test", "contrast_phase": ""},
             {"split": "test"}]
    assert phase_counts(cases) == [
        {"split": "train", "studies": 3, "portal venous": 2, "unenhanced": 1, "unknown": 0},
        {"split": "test", "studies": 2, "portal venous": 0, "unenhanced": 0, "unknown": 2},  # an old cache: unknown
    ]
