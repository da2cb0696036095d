"""The three views of a cube: windows, slicing and 2.5D inputs."""

from __future__ import annotations

import numpy as np
import pytest

from liverlib.views import apply_windows, parse_window, view_slices, view_slices_inverse


def test_apply_windows_maps_levels_and_clips():
    hu = np.array([-1000.0, -140.0, 60.0, 260.0, 3000.0])
    out = apply_windows(hu, [(60, 400), (60, 150)])
    assert out.shape == (5, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-6)
    # Level 60 width 150 spans -15..135 HU.
    np.testing.assert_allclose(out[:, 1], [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-6)
    assert apply_windows(np.array([-15.0, 135.0]), [(60, 150)])[:, 0].tolist() == [0.0, 1.0]
    with pytest.raises(ValueError):
        apply_windows(hu, [(60, 0)])


def test_parse_window():
    assert parse_window("60,400") == (60.0, 400.0)
    assert parse_window("-600,1500") == (-600.0, 1500.0)
    for bad in ("60", "60,-5", "a,b"):
        with pytest.raises(ValueError, match="window"):
            parse_window(bad)


def test_view_slices_follow_design_and_invert():
    cube = np.random.default_rng(0).random((4, 5, 6, 2))
    assert np.array_equal(view_slices(cube, "axial")[3], cube[3])
    assert np.array_equal(view_slices(cube, "coronal")[2], cube[::-1, 2, :])
    assert np.array_equal(view_slices(cube, "sagittal")[5], cube[::-1, :, 5])
    for view in ("axial", "coronal", "sagittal"):
        assert np.array_equal(view_slices_inverse(view_slices(cube, view), view), cube)
    with pytest.raises(ValueError, match="view"):
        view_slices(cube, "oblique")


def test_slice_inputs_2d_is_the_windows_and_25d_adds_clamped_neighbours():
    from liverlib.views import CONTEXT_STEP, input_channels, slice_inputs

    stack = np.arange(8, dtype=np.float32)[:, None, None] * 20.0 + np.zeros((8, 3, 3), np.float32)
    windows = [(60, 400), (60, 150)]
    plain = slice_inputs(stack, [0, 5], windows)
    np.testing.assert_allclose(plain, apply_windows(stack[[0, 5]], windows))
    ctx = slice_inputs(stack, [0, 5], windows, context_slices=1)
    assert ctx.shape == (2, 3, 3, input_channels(2, 1)) == (2, 3, 3, 4)
    np.testing.assert_allclose(ctx[..., :2], plain)  # the slice itself comes first
    narrow = [(60, 150)]  # neighbours through the narrowest window
    below, above = 5 - CONTEXT_STEP, 5 + CONTEXT_STEP
    np.testing.assert_allclose(ctx[1, ..., 2], apply_windows(stack[below], narrow)[..., 0])
    np.testing.assert_allclose(ctx[1, ..., 3], apply_windows(stack[above], narrow)[..., 0])
    np.testing.assert_allclose(ctx[0, ..., 2], apply_windows(stack[0], narrow)[..., 0])  # clamped at the end
