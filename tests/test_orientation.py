"""A marker in the patient's right-anterior-superior octant lands top-left in every view.

Through DICOM files (stored in every axis order), read_study, the body cube
and the view stacks:

* axial (``cube[k]``): rows anterior (top) to posterior, columns patient right
  (image left) to left; the marker is in the upper half of ``k`` (superior).
* coronal (``cube[::-1, j, :]``): rows superior (top) to inferior, columns
  patient right (image left) to left; marker in the first half of ``j`` (anterior).
* sagittal (``cube[::-1, :, i]``): rows superior (top) to inferior, columns
  anterior (image LEFT) to posterior; marker in the first half of ``i`` (right).

So in all three views the marker is top-left, and it maps back onto its own
study voxels.
"""

from __future__ import annotations

import numpy as np
import pytest

from liverlib.cube import prepare_volume, to_study_grid
from liverlib.dicom_write import write_dicom_series
from liverlib.study import read_study
from liverlib.views import view_slices
from liverlib.volume import Volume

SIZE = 32
MARKER_HU = 1000


def marker_volume() -> Volume:
    """An anisotropic body box with a bone-bright marker at (superior, anterior, right)."""
    shape = (24, 36, 40)  # z, y, x: every axis a different length
    hu = np.full(shape, -1000, np.int16)
    hu[2:22, 4:32, 4:36] = 40  # the body
    # z high = superior, y low = anterior, x low = patient right.
    hu[15:20, 6:11, 6:12] = MARKER_HU
    return Volume(hu=hu, spacing=(2.5, 1.25, 1.0), case_id="marker", origin=(-20.0, -25.0, 300.0))


def top_left_only(stack: np.ndarray, in_first_half: bool) -> None:
    """The marker shows only in the expected half of the slices, and top-left there."""
    half = SIZE // 2
    hits = np.flatnonzero((stack > MARKER_HU / 2).any(axis=(1, 2)))
    assert len(hits) > 0
    assert np.all(hits < half) if in_first_half else np.all(hits >= half)
    rows, cols = np.nonzero((stack[hits] > MARKER_HU / 2).any(axis=0))
    assert rows.max() < half and cols.max() < half, "marker not in the top-left quadrant"


@pytest.mark.parametrize("flip", [(False, False, False), (True, True, True), (True, False, True)])
def test_marker_lands_top_left_in_every_view(tmp_path, flip):
    vol = marker_volume()
    write_dicom_series(vol.hu, vol.spacing, tmp_path / "ct", origin=vol.origin, flip=flip, uid_seed=str(flip))
    read = read_study(tmp_path / "ct", case_id="marker")
    np.testing.assert_array_equal(read.hu, vol.hu)  # the reader undid the stored flips
    cube, _, grid = prepare_volume(read, spacing_mm=2.0, image_size=SIZE)
    top_left_only(view_slices(cube, "axial"), in_first_half=False)  # superior slices
    top_left_only(view_slices(cube, "coronal"), in_first_half=True)  # anterior slices
    top_left_only(view_slices(cube, "sagittal"), in_first_half=True)  # right-side slices
    # The way back puts the marker on its own study voxels.
    back = to_study_grid((cube > MARKER_HU / 2).astype(np.float32), grid) > 0.5
    truth = read.hu > MARKER_HU / 2
    dice = 2 * np.sum(back & truth) / (back.sum() + truth.sum())
    assert dice > 0.7  # a 5x5x6-voxel marker through ~2.4 mm cube voxels
    shift_mm = (np.argwhere(back).mean(0) - np.argwhere(truth).mean(0)) * np.asarray(read.spacing)
    assert np.all(np.abs(shift_mm) < 1.5), f"marker moved by {shift_mm} mm"


def test_display_corners_named_in_design():
    # Without the DICOM round trip: each display formula of DESIGN.md puts the
    # octant's corner voxel at the image's top-left.
    hu = np.zeros((4, 4, 4))
    hu[3, 0, 0] = 1  # most superior, most anterior, most right
    assert hu[3][0, 0] == 1  # axial slice k=3: top-left
    assert hu[::-1, 0, :][0, 0] == 1  # coronal slice j=0: top-left
    assert hu[::-1, :, 0][0, 0] == 1  # sagittal slice i=0: top-left
    for view, index in (("axial", 3), ("coronal", 0), ("sagittal", 0)):
        assert view_slices(hu, view)[index][0, 0] == 1
