"""The ipywidgets viewer: every control redraws the PNG it shows."""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image
from test_figures_explore import make_interim

from liverlib.figures_explore import centre_slice, load_cube
from liverlib.render import render_slice
from liverlib.viewer import SliceViewer, slice_viewer
from liverlib.views import view_slices

SIZE = 32


@pytest.fixture(scope="module")
def interim(tmp_path_factory):
    folder = tmp_path_factory.mktemp("viewer") / "interim" / "tiny"
    make_interim(folder)
    return folder


@pytest.fixture
def viewer(interim):
    return slice_viewer(interim, spacing_mm=2.0, image_size=SIZE, display_px=64)


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_starts_on_liver_centre_with_an_image(viewer, interim):
    assert isinstance(viewer, SliceViewer)
    assert list(viewer.case_dropdown.options) == ["case-0", "case-1", "case-2"]
    image = pixels(viewer.image.value)
    assert image.shape == (64, 64, 3)
    _, cube_label = load_cube(interim, "case-0", 2.0, SIZE)
    assert viewer.slice_slider.max == SIZE - 1
    assert viewer.slice_slider.value == centre_slice(view_slices(cube_label, "axial"))
    assert "case-0" in viewer.info.value and "axial" in viewer.info.value
    assert viewer.widget.children  # a displayable tree
    assert "liverlib-viewer" in viewer.widget._dom_classes  # the browser test finds it by this class
    assert viewer.slice_slider.description == "slice"
    assert "application/vnd.jupyter.widget-view+json" in viewer._repr_mimebundle_()


def test_slice_slider_changes_the_image(viewer):
    before = viewer.image.value
    viewer.slice_slider.value = viewer.slice_slider.value + 4
    assert viewer.image.value != before
    hu, label = viewer.current_slice()
    expected = render_slice(hu, label, level=60, width=400, opacity=viewer.opacity_slider.value)
    shown = pixels(viewer.image.value)[::2, ::2]  # display_px 64 = 2 x nearest upscale
    assert np.array_equal(shown, expected)


def test_overlay_toggles_and_opacity_change_the_image(viewer):
    with_masks = viewer.image.value
    viewer.liver_toggle.value = False
    no_liver = viewer.image.value
    assert no_liver != with_masks
    viewer.tumor_toggle.value = False
    no_masks = viewer.image.value
    assert no_masks != no_liver
    assert viewer.liver_toggle.icon == ""
    viewer.liver_toggle.value = True
    assert viewer.image.value not in (no_masks, with_masks)  # liver only
    viewer.tumor_toggle.value = True
    assert viewer.image.value == with_masks
    viewer.opacity_slider.value = 0.9
    assert viewer.image.value != with_masks
    # With opacity 0 the masks vanish: the same picture as overlays off.
    viewer.opacity_slider.value = 0.0
    assert viewer.image.value == no_masks


def test_window_sliders_change_the_image(viewer):
    before = viewer.image.value
    viewer.level_slider.value = 200
    after_level = viewer.image.value
    assert after_level != before
    viewer.width_slider.value = 1500
    assert viewer.image.value != after_level


def test_view_and_case_changes_redraw_and_recentre(viewer, interim):
    renders = viewer.renders
    viewer.view_toggle.value = "sagittal"
    assert viewer.renders == renders + 1  # one redraw, not one per slider change
    _, cube_label = load_cube(interim, "case-0", 2.0, SIZE)
    assert viewer.slice_slider.value == centre_slice(view_slices(cube_label, "sagittal"))
    before = viewer.image.value
    viewer.case_dropdown.value = "case-1"
    assert viewer.image.value != before
    assert "case-1" in viewer.info.value and "tumor 0 px" in viewer.info.value


def test_shows_the_cube_the_dataset_cut(interim):
    boxed = slice_viewer(interim, spacing_mm=2.0, image_size=SIZE, display_px=64, crop="liver", liver_margin_mm=4.0)
    box_hu, box_label = load_cube(interim, "case-0", 2.0, SIZE, crop="liver", liver_margin_mm=4.0)
    cube_hu, cube_label = boxed.cube()
    assert np.array_equal(cube_label, box_label) and np.allclose(cube_hu, box_hu)
    _, body_label = load_cube(interim, "case-0", 2.0, SIZE)
    assert not np.array_equal(cube_label, body_label)


def test_no_cases_gives_a_note(tmp_path):
    note = slice_viewer(tmp_path / "missing")
    assert isinstance(note, widgets.HTML) and "No decoded studies" in note.value
    with pytest.raises(ValueError, match="no decoded cases"):
        SliceViewer(tmp_path, [])


def test_report_slider_opens_on_the_slice_with_the_most_tumor():
    from liverlib.viewer_eval import slice_slider_figure

    hu = np.full((16, 16, 16), 50.0, np.float32)
    label = np.zeros((16, 16, 16), np.uint8)
    label[4:12, 4:12, 4:12] = 1
    label[10, 6:9, 6:9] = 2  # tumor on axial slice 10 only
    probs = np.stack([label == 0, label == 1, label == 2], -1).astype(np.float32)
    fig = slice_slider_figure({"hu": hu, "probs": probs, "label": label}, "axial", step=2, scale=1)
    assert fig.layout.sliders[0].active == 5 and fig.layout.sliders[0].steps[5].label == "10"
    assert fig.layout.modebar.orientation == "v"  # the toolbar does not cover the title
    no_tumor = {"hu": hu, "probs": probs * 0 + np.array([1, 0, 0], np.float32), "label": None}
    assert slice_slider_figure(no_tumor, "axial", step=2, scale=1).layout.sliders[0].active == 4  # the middle
