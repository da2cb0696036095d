"""The study cube: body crop, resampling into the cube, anti-aliasing, and the way back."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from liverlib.cube import (
    StudyGrid,
    antialias_sigma,
    prepare_volume,
    study_grid,
    to_cube,
    to_study_grid,
)
from liverlib.volume import Volume


def body_volume(shape=(20, 40, 50), spacing=(3.0, 1.0, 0.8)) -> Volume:
    """Air around an off-centre soft-tissue box, a liver ball and a tumor in it,
    plus a bright speck far away (a table or noise: not the body)."""
    hu = np.full(shape, -1000, np.int16)
    hu[2:18, 5:30, 8:40] = 40
    hu[10, 38, 48] = 500  # isolated speck
    label = np.zeros(shape, np.uint8)
    label[6:14, 10:22, 12:30] = 1
    label[8:11, 14:18, 16:22] = 2
    return Volume(hu=hu, spacing=spacing, case_id="body", label=label)


def test_prepare_volume_crops_to_body_and_centres_it():
    vol = body_volume()
    cube, label, grid = prepare_volume(vol, spacing_mm=2.0, image_size=32)
    assert cube.shape == (32, 32, 32) and cube.dtype == np.float32
    assert label.shape == (32, 32, 32) and label.dtype == np.uint8
    assert set(np.unique(label)) == {0, 1, 2}
    # The body box ignores the speck: y ends near voxel 29 (29 mm + 5 mm margin), not 38.
    (z0, z1), (y0, y1), (x0, x1) = grid.body_box
    assert y1 * 2.0 <= 29 + 5 + 2 and x1 * 2.0 <= 39 * 0.8 + 5 + 2
    assert cube.max() < 100  # the 500 HU speck is outside the cube
    # The longest side (z: 16 slices * 3 mm + margins) sets the cube; body centred.
    assert grid.cube_side == z1 - z0 + 1
    assert grid.cube_spacing_mm == pytest.approx(grid.cube_side * 2.0 / 32)
    body = np.argwhere(cube > -500)
    centre = (body.min(0) + body.max(0)) / 2
    np.testing.assert_allclose(centre, [15.5, 15.5, 15.5], atol=1.5)
    assert cube[0, 0, 0] == pytest.approx(-1024.0, abs=30)  # air / padding


def test_linear_ramp_is_exact_both_ways():
    # A linear HU field is reproduced exactly by linear interpolation, so any
    # half-voxel slip in the scale/offset bookkeeping shows up here.
    shape, spacing = (15, 30, 24), (2.5, 0.9, 1.1)
    z, y, x = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    hu = 3.0 * z - 2.0 * y + 1.5 * x  # all above -500 HU: the whole study is body
    vol = Volume(hu=hu, spacing=spacing, case_id="ramp")
    grid = study_grid(vol, spacing_mm=1.5, image_size=24)
    cube = to_cube(hu, grid)
    scale, offset = grid.scale_offset()
    q = np.stack(np.meshgrid(*[np.arange(24.0)] * 3, indexing="ij"), -1)
    o = q * scale + offset
    # The anti-aliasing blur keeps a ramp linear except within its reach of the study's edge.
    edge = np.ceil(3 * antialias_sigma(scale)) + 1e-6
    inside = np.all((o >= edge) & (o <= np.array(shape) - 1 - edge), axis=-1)
    expected = 3.0 * o[..., 0] - 2.0 * o[..., 1] + 1.5 * o[..., 2]
    np.testing.assert_allclose(cube[inside], expected[inside], atol=1e-3)
    assert inside.mean() > 0.4
    # Back to the study grid: interior voxels come back to the ramp.
    back = to_study_grid(np.where(inside, cube, expected).astype(np.float32), grid, fill=0.0)
    interior = (slice(2, -2),) * 3
    np.testing.assert_allclose(back[interior], hu[interior], atol=1e-2)


def test_coarser_cube_averages_noise_finer_cube_samples():
    # A 512-matrix-like study (0.5 mm pixels, 1 mm slices) of 110 HU liver with 20 HU noise.
    rng = np.random.default_rng(0)
    hu = (110 + 20 * rng.standard_normal((40, 160, 160))).astype(np.float32)
    vol = Volume(hu=hu, spacing=(1.0, 0.5, 0.5), case_id="noise")
    coarse = study_grid(vol, spacing_mm=2.0, image_size=32)  # 2 mm voxels and more: 4x and 2x per axis
    scale, offset = coarse.scale_offset()
    assert np.allclose(antialias_sigma(scale), (scale - 1) / 2) and (scale > 1).all()
    cube = to_cube(hu, coarse)
    body = cube[cube > -500]
    assert abs(body.mean() - 110) < 1.5  # the mean HU is kept
    assert body.std() < 8  # averaged: sampling one voxel in four would keep about 20 HU
    # Labels are never blurred.
    label = (rng.uniform(size=hu.shape) > 0.5).astype(np.uint8) * 2
    assert set(np.unique(to_cube(label, coarse, order=0, fill=0, dtype=np.uint8))) <= {0, 2}
    # A cube as fine as the study or finer is sampled as it is (no blur).
    assert antialias_sigma([0.5, 1.0, 2.7]).tolist() == [0.0, 0.0, pytest.approx(0.85)]
    small = hu[:10, :32, :32]
    fine = study_grid(Volume(hu=small, spacing=(1.0, 0.5, 0.5), case_id="small"), spacing_mm=0.25, image_size=64)
    scale, offset = fine.scale_offset()
    assert (scale <= 1).all()
    from scipy import ndimage as ndi

    plain = ndi.affine_transform(small, scale, offset=offset, output_shape=(64,) * 3, order=1, mode="constant",
                                 cval=-1024.0, prefilter=False)
    np.testing.assert_array_equal(to_cube(small, fine), plain)


def test_antialiasing_blurs_only_what_the_cube_reaches_and_matches_blurring_everything():
    # A small body in a large study: the cube (body box) lies well inside it, so only a crop is
    # blurred; the result must equal blurring the whole study first.
    from scipy import ndimage as ndi

    rng = np.random.default_rng(1)
    hu = np.full((50, 120, 120), -1000, np.float32)
    hu[20:30, 40:70, 50:80] = 40 + 20 * rng.standard_normal((10, 30, 30))
    vol = Volume(hu=hu, spacing=(1.0, 0.5, 0.5), case_id="inner")
    grid = study_grid(vol, spacing_mm=1.5, image_size=8)
    scale, offset = grid.scale_offset()
    assert (offset > 10).all() and (offset + scale * 7 < np.array(hu.shape) - 10).all()  # strictly inside
    blurred = ndi.gaussian_filter(hu, antialias_sigma(scale), mode="nearest", truncate=3.0)
    expected = ndi.affine_transform(blurred, scale, offset=offset, output_shape=(8,) * 3, order=1,
                                    mode="constant", cval=-1024.0, prefilter=False)
    before = hu.copy()
    np.testing.assert_allclose(to_cube(hu, grid), expected, atol=1e-3)
    np.testing.assert_array_equal(hu, before)  # the caller's float32 study is not blurred in place


def test_to_study_grid_recovers_labels_and_fills_background():
    vol = body_volume()
    _, label, grid = prepare_volume(vol, spacing_mm=2.0, image_size=48)
    probs = np.stack([label == k for k in range(3)], -1).astype(np.float32)
    back = to_study_grid(probs, grid)
    assert back.shape == vol.shape + (3,) and back.dtype == np.float32
    np.testing.assert_allclose(back.sum(-1), 1.0, atol=1e-5)
    pred = back.argmax(-1)
    liver = vol.label > 0
    dice = 2 * np.sum((pred > 0) & liver) / (np.sum(pred > 0) + liver.sum())
    assert dice > 0.9
    assert pred[vol.label == 2].mean() > 1.5  # most tumor voxels come back as tumor
    # Voxels far outside the body cube get the background one-hot.
    np.testing.assert_array_equal(back[10, 38, 48], [1.0, 0.0, 0.0])
    fast = to_study_grid(probs, grid, derive_background=True)
    np.testing.assert_allclose(fast, back, atol=1e-5)
    single = to_study_grid(probs[..., 1], grid)
    np.testing.assert_allclose(single, back[..., 1], atol=1e-6)
    # A slab of study slices is the same slab of the whole mapping (predict labels a study slab by slab).
    slab = to_study_grid(probs, grid, derive_background=True, z_range=(3, 11))
    np.testing.assert_array_equal(slab, fast[3:11])
    with pytest.raises(ValueError, match="size"):
        to_study_grid(probs[:10], grid)
    with pytest.raises(ValueError, match="z_range"):
        to_study_grid(probs, grid, z_range=(5, vol.shape[0] + 1))


def test_study_grid_json_round_trip():
    grid = prepare_volume(body_volume(), spacing_mm=2.0, image_size=16)[2]
    again = StudyGrid.from_dict(json.loads(json.dumps(grid.to_dict())))
    assert again == grid
    assert all(before >= 0 and after >= 0 for before, after in grid.padding)


def test_air_only_study_uses_the_whole_volume():
    vol = Volume(hu=np.full((6, 8, 10), -1000, np.int16), spacing=(2.0, 2.0, 2.0), case_id="air")
    cube, label, grid = prepare_volume(vol, spacing_mm=2.0, image_size=8)
    assert label is None and cube.shape == (8, 8, 8)
    assert grid.body_box == ((0, 5), (0, 7), (0, 9))


def test_prepare_and_map_back_128_cube_is_fast():
    # The prediction benchmark needs the non-model part of a 128^3 study well
    # under a second or two on 2 shared cores (typical here: ~0.05 s + ~0.2 s).
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, 128, dtype=np.float32)] * 3, indexing="ij")
    hu = np.where(x**2 + y**2 < 0.7, 40, -1000).astype(np.int16)
    vol = Volume(hu=hu, spacing=(2.5, 0.8, 0.8), case_id="speed")
    start = time.perf_counter()
    cube, _, grid = prepare_volume(vol, spacing_mm=1.6, image_size=128)
    probs = np.broadcast_to(np.float32(1 / 3), (128, 128, 128, 3))
    back = to_study_grid(probs, grid, derive_background=True)
    elapsed = time.perf_counter() - start
    assert back.shape == (128, 128, 128, 3)
    assert elapsed < 3.0, f"prepare + map back took {elapsed:.2f} s"
