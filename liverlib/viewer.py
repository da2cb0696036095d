"""The interactive slice viewer of notebook 02 (ipywidgets, needs a live kernel).

``slice_viewer(interim_dir, ...)`` returns a :class:`SliceViewer`: a case
dropdown, a view toggle (axial / coronal / sagittal), a slice slider, window
level and width sliders, liver and tumor overlay toggles with an opacity
slider, and the slice itself as an ``ipywidgets.Image`` (PNG bytes made with
PIL, so it is fast and works in JupyterLab and VS Code without extra
extensions). The widgets are attributes (``viewer.slice_slider``,
``viewer.image``...), so code and tests can drive it; the viewer displays as
its widget tree when it is the last expression of a cell.

Cases are shown as the slice dataset cut them: resampled to ``spacing_mm``,
cropped to the body (or, with ``crop="liver"``, to the box around the
reference liver) and resized to an ``image_size`` cube
(:func:`liverlib.liver_box.dataset_grid`), in the display orientation of
DESIGN.md. The last few cases are kept in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import ipywidgets as widgets
import numpy as np

from liverlib.figures_explore import centre_slice, load_cube
from liverlib.liver_box import LIVER_MARGIN_MM
from liverlib.render import png_bytes, render_slice
from liverlib.slice_dataset import VIEWS
from liverlib.views import view_slices


class SliceViewer:
    """Browse cases, views and slices with windowing and mask overlays.

    Args:
        interim_dir: ``data/interim/<dataset>`` (``<case_id>.npz`` files).
        case_ids: Cases offered in the dropdown (pseudonyms only).
        spacing_mm: Resampling step, as in the slice dataset (e.g. 1.6 mm).
        image_size: Cube side in pixels (e.g. 128).
        crop: ``body`` or ``liver`` (the cube the dataset cut: see
            :func:`liverlib.figures_explore.load_cube`).
        liver_margin_mm: Margin of the liver box.
        antialias: HU blurred before sampling a coarser cube (the dataset's).
        display_px: Width and height of the shown image in screen pixels.
        level: Initial window level in HU (60 for the abdomen).
        width: Initial window width in HU (400 for the abdomen, 150 for liver).
        opacity: Initial overlay weight (0..1).
        cache_size: Cases kept in memory.

    Attributes:
        case_dropdown, view_toggle, slice_slider, level_slider, width_slider,
        liver_toggle, tumor_toggle, opacity_slider: The controls.
        image: The ``ipywidgets.Image`` (PNG) showing the slice.
        info: An ``ipywidgets.HTML`` line (case, view, slice, liver/tumor pixels).
        widget: The whole tree (a ``VBox``).
    """

    def __init__(self, interim_dir: str | Path, case_ids: list[str], *, spacing_mm: float = 1.6,
                 image_size: int = 128, display_px: int = 384, level: float = 60.0, width: float = 400.0,
                 opacity: float = 0.4, cache_size: int = 4, crop: str = "body",
                 liver_margin_mm: float = LIVER_MARGIN_MM, antialias: bool = True):
        if not case_ids:
            raise ValueError(f"{interim_dir}: no decoded cases to show (run 01_decode first)")
        self.interim_dir = Path(interim_dir)
        self.spacing_mm, self.image_size, self.display_px = float(spacing_mm), int(image_size), int(display_px)
        self.crop, self.liver_margin_mm, self.antialias = str(crop), float(liver_margin_mm), bool(antialias)
        self._cache: OrderedDict[str, tuple] = OrderedDict()
        self._cache_size = max(1, int(cache_size))
        self._busy = False
        self.renders = 0
        self.case_dropdown = widgets.Dropdown(options=list(case_ids), value=case_ids[0], description="case")
        self.view_toggle = widgets.ToggleButtons(options=list(VIEWS), value="axial", description="view")
        self.slice_slider = widgets.IntSlider(min=0, max=self.image_size - 1, value=self.image_size // 2,
                                              description="slice", continuous_update=True)
        self.level_slider = widgets.IntSlider(min=-500, max=500, step=5, value=int(level), description="level (HU)")
        self.width_slider = widgets.IntSlider(min=10, max=2000, step=10, value=int(width), description="width (HU)")
        self.liver_toggle = widgets.ToggleButton(value=True, description="liver", icon="check")
        self.tumor_toggle = widgets.ToggleButton(value=True, description="tumor", icon="check")
        self.opacity_slider = widgets.FloatSlider(min=0.0, max=1.0, step=0.05, value=float(opacity),
                                                  description="opacity")
        self.image = widgets.Image(format="png", width=self.display_px, height=self.display_px)
        self.info = widgets.HTML()
        self.widget = widgets.VBox([
            widgets.HBox([self.case_dropdown, self.view_toggle]),
            self.slice_slider,
            widgets.HBox([self.level_slider, self.width_slider]),
            widgets.HBox([self.liver_toggle, self.tumor_toggle, self.opacity_slider]),
            self.image,
            self.info,
        ])
        self.widget.add_class("liverlib-viewer")  # a stable hook for browser tests and CSS
        self.case_dropdown.observe(self._on_case, names="value")
        self.view_toggle.observe(self._on_view, names="value")
        for control in (self.slice_slider, self.level_slider, self.width_slider, self.liver_toggle,
                        self.tumor_toggle, self.opacity_slider):
            control.observe(self._on_change, names="value")
        self._goto_centre()

    # -- data ---------------------------------------------------------------
    def cube(self, case_id: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``(cube_hu, cube_label)`` of a case (default: the selected one), cached."""
        case_id = case_id or self.case_dropdown.value
        if case_id in self._cache:
            self._cache.move_to_end(case_id)
        else:
            self._cache[case_id] = load_cube(self.interim_dir, case_id, self.spacing_mm, self.image_size, self.crop,
                                             self.liver_margin_mm, self.antialias)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return self._cache[case_id]

    def current_slice(self) -> tuple[np.ndarray, np.ndarray | None]:
        """HU and label of the slice on screen, in display orientation."""
        cube_hu, cube_label = self.cube()
        view, k = self.view_toggle.value, self.slice_slider.value
        label = view_slices(cube_label, view)[k] if cube_label is not None else None
        return view_slices(cube_hu, view)[k], label

    # -- events -------------------------------------------------------------
    def _goto_centre(self) -> None:
        cube_hu, cube_label = self.cube()
        view = self.view_toggle.value
        labels = view_slices(cube_label, view) if cube_label is not None else None
        self._busy = True  # one render for both slider changes
        try:
            self.slice_slider.max = cube_hu.shape[0] - 1
            self.slice_slider.value = min(centre_slice(labels), self.slice_slider.max)
        finally:
            self._busy = False
        self.render()

    def _on_case(self, _change) -> None:
        self._goto_centre()

    def _on_view(self, _change) -> None:
        self._goto_centre()

    def _on_change(self, change) -> None:
        if change["owner"] in (self.liver_toggle, self.tumor_toggle):
            change["owner"].icon = "check" if change["new"] else ""
        if not self._busy:
            self.render()

    def render(self) -> bytes:
        """Draw the current slice into :attr:`image`; returns the PNG bytes."""
        hu, label = self.current_slice()
        rgb = render_slice(hu, label, level=self.level_slider.value, width=self.width_slider.value,
                           liver=self.liver_toggle.value, tumor=self.tumor_toggle.value,
                           opacity=self.opacity_slider.value)
        data = png_bytes(rgb, self.display_px)
        self.image.value = data
        self.renders += 1
        liver = int(np.count_nonzero(label >= 1)) if label is not None else 0
        tumor = int(np.count_nonzero(label == 2)) if label is not None else 0
        self.info.value = (
            f"<code>{self.case_dropdown.value}</code> {self.view_toggle.value} slice "
            f"{self.slice_slider.value}/{self.slice_slider.max}: liver {liver} px, tumor {tumor} px; "
            f"window {self.level_slider.value}/{self.width_slider.value} HU"
        )
        return data

    # -- display ------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def slice_viewer(interim_dir: str | Path, case_ids: list[str] | None = None, **kwargs):
    """The viewer over a decoded cohort.

    Args:
        interim_dir: ``data/interim/<dataset>``.
        case_ids: Cases to offer (default: every case in ``cases.csv``).
        **kwargs: Passed to :class:`SliceViewer` (``spacing_mm``,
            ``image_size``, ``level`` 60 / ``width`` 400 HU, ``opacity``...).

    Returns:
        A :class:`SliceViewer` (leave it as a cell's last expression to show
        it), or an ``ipywidgets.HTML`` note when there is no decoded case
        (e.g. an image-folder dataset).
    """
    from liverlib.interim import read_cases

    if case_ids is None:
        case_ids = [row["case_id"] for row in read_cases(interim_dir)]
    if not case_ids:
        return widgets.HTML(f"<i>No decoded studies in {Path(interim_dir).name}/: nothing to browse "
                            "(image-folder datasets have no 3D studies).</i>")
    return SliceViewer(interim_dir, list(case_ids), **kwargs)
