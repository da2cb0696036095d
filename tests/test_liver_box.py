"""The liver box: its grid, moving cubes between grids, and the first pass's box."""

from __future__ import annotations

import numpy as np
import pytest

from liverlib.cube import study_grid, to_cube
from liverlib.liver_box import (
    cube_box_mm,
    dataset_grid,
    liver_box_grid,
    locate_liver,
    mask_box_mm,
    resample_between,
)
from liverlib.volume import Volume

SIZE = 32


def study(shape=(40, 90, 100), spacing=(2.5, 1.5, 1.5)) -> Volume:
    """A 135 x 150 mm body (0 HU) with a box-shaped liver (label 1, 110 HU) and a tumor (label 2)."""
    hu = np.full(shape, -1000, np.int16)
    hu[2:38, 5:85, 5:95] = 0
    label = np.zeros(shape, np.uint8)
    label[10:30, 20:60, 15:55] = 1
    label[15:20, 30:40, 25:35] = 2
    hu[label > 0] = 110
    return Volume(hu=hu, spacing=spacing, case_id="case-box", label=label)


def test_liver_box_holds_the_liver_at_finer_pixels():
    volume = study()
    body = study_grid(volume, 1.0, SIZE)
    box = dataset_grid(volume, 1.0, SIZE, "liver", margin_mm=5.0)
    assert box.size == body.size and box.cube_side < body.cube_side
    assert box.cube_spacing_mm >= 1.0  # never finer than the resampling step
    # Every liver voxel lands in the box: the label volume is kept.
    cube = to_cube(volume.label, box, order=0, fill=0, dtype=np.uint8)
    study_ml = (volume.label > 0).sum() * volume.voxel_ml
    assert (cube > 0).sum() * box.cube_spacing_mm ** 3 / 1000 == pytest.approx(study_ml, rel=0.05)
    # ... and the margin keeps it off the faces.
    assert not any(np.take(cube > 0, i, axis=a).any() for a in range(3) for i in (0, -1))


def test_a_small_box_keeps_the_resampling_step_and_is_centred():
    volume = study()
    body = study_grid(volume, 1.0, SIZE)
    lo, hi = np.array([30.0, 40.0, 40.0]), np.array([40.0, 50.0, 50.0])  # 10 mm: smaller than SIZE steps
    box = liver_box_grid(body, lo, hi, margin_mm=0.0)
    assert box.cube_side == SIZE and box.cube_spacing_mm == pytest.approx(1.0)
    centre_mm = (np.asarray(box.cube_start) + (SIZE - 1) / 2) * 1.0
    np.testing.assert_allclose(centre_mm, (lo + hi) / 2, atol=1.0)


def test_resample_between_agrees_with_cutting_each_cube_from_the_study():
    volume = study()
    body = study_grid(volume, 1.0, SIZE)
    box = dataset_grid(volume, 1.0, SIZE, "liver", margin_mm=5.0)
    z = np.arange(volume.shape[0], dtype=np.float32)[:, None, None] * np.ones(volume.shape, np.float32)
    ramp = z * 2.5  # mm along z: linear, so linear interpolation is exact
    in_box, in_body = to_cube(ramp, box, fill=np.nan), to_cube(ramp, body, fill=np.nan)
    moved = resample_between(in_box, box, body, fill=np.nan)
    both = ~np.isnan(moved) & ~np.isnan(in_body)
    assert both.sum() > 1000
    np.testing.assert_allclose(moved[both], in_body[both], atol=1e-3)
    finite = to_cube(ramp, body, fill=0.0)
    np.testing.assert_allclose(resample_between(finite, body, body), finite, atol=1e-4)
    probs = np.stack([in_box, in_box, in_box], -1)
    assert resample_between(probs, box, body, fill=np.nan).shape == (SIZE, SIZE, SIZE, 3)


def test_first_pass_box_covers_its_mask_and_none_without_liver():
    volume = study()
    body = study_grid(volume, 1.0, SIZE)
    cube_label = to_cube(volume.label, body, order=0, fill=0, dtype=np.uint8)
    lo, hi = cube_box_mm(body, cube_label > 0)
    true_lo, true_hi = mask_box_mm(volume.label > 0, volume.spacing)
    step = body.cube_spacing_mm
    assert (lo <= true_lo + step).all() and (hi >= true_hi - step).all()
    stray = cube_label.copy()
    stray[2, 2, 2] = 1  # a one-voxel false positive far away: not the largest component
    box, (found_lo, found_hi) = locate_liver(body, stray, margin_mm=5.0)
    assert box == locate_liver(body, cube_label, margin_mm=5.0)[0]
    np.testing.assert_allclose(found_lo, lo)  # the liver's own box, margin not included
    np.testing.assert_allclose(found_hi, hi)
    assert locate_liver(body, np.zeros_like(cube_label)) is None
    assert mask_box_mm(np.zeros((3, 3, 3), bool), (1, 1, 1)) is None


def test_dataset_grid_without_liver_or_with_a_bad_crop():
    volume = study()
    empty = Volume(volume.hu, volume.spacing, "empty", label=np.zeros(volume.shape, np.uint8))
    assert dataset_grid(empty, 1.0, SIZE, "liver") == study_grid(volume, 1.0, SIZE)
    with pytest.raises(ValueError, match="crop"):
        dataset_grid(volume, 1.0, SIZE, "lungs")
