import numpy as np
import pytest

keras = pytest.importorskip("keras")

from liverlib.augment import (  # noqa: E402
    AugmentConfig,
    affine_params,
    augment_images,
    augment_masks,
    identity_params,
    sample_params,
)

S = 32


def _disk(cy, cx, r):
    yy, xx = np.mgrid[:S, :S]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.float32)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_identity_leaves_images_and_masks_unchanged():
    rng = np.random.default_rng(0)
    images = rng.random((3, S, S, 2)).astype(np.float32)
    masks = rng.integers(0, 3, (3, S, S)).astype(np.uint8)
    p = identity_params(3)
    np.testing.assert_allclose(_np(augment_images(images, p)), images, atol=1e-6)
    np.testing.assert_array_equal(_np(augment_masks(masks, p)), masks)


def test_shift_and_rotation_conventions():
    img = _disk(10, 12, 5)[None, :, :, None]
    p = identity_params(1)
    p[0, :8] = affine_params(S, shift_x=3, shift_y=-2)  # 3 right, 2 up
    expected = np.roll(np.roll(img[0, :, :, 0], 3, axis=1), -2, axis=0)
    np.testing.assert_allclose(_np(augment_images(img, p))[0, :, :, 0], expected, atol=1e-6)
    p[0, :8] = affine_params(S, angle_deg=90)  # counter-clockwise on screen
    np.testing.assert_allclose(_np(augment_images(img, p))[0, :, :, 0], np.rot90(img[0, :, :, 0]), atol=1e-5)
    p[0, :8] = affine_params(S, flip=True)
    np.testing.assert_allclose(_np(augment_images(img, p))[0, :, :, 0], img[0, :, ::-1, 0], atol=1e-6)


def test_image_and_mask_get_the_same_transform():
    liver, tumor = _disk(15, 14, 9), _disk(13, 12, 3)
    image = (0.8 * liver - 0.4 * tumor)[None, :, :, None].repeat(4, axis=0)
    mask = (liver + tumor).astype(np.uint8)[None].repeat(4, axis=0)
    config = AugmentConfig(rotation_deg=30, shift=0.1, zoom=0.2, brightness=0.0, contrast=0.0)
    p = sample_params(4, S, config, seed=(1, 2, 3))
    out_img = _np(augment_images(image, p))[..., 0]
    out_mask = _np(augment_masks(mask, p))
    assert set(np.unique(out_mask)) <= {0, 1, 2}
    assert not np.array_equal(out_mask, mask)  # the transform did something
    for k in range(4):
        liver_from_image = out_img[k] > 0.6  # liver (0.8) only, not tumor (0.4)
        mismatch = np.mean(liver_from_image != (out_mask[k] == 1))
        assert mismatch < 0.03, (k, mismatch)  # only boundary pixels may disagree
        tumor_from_image = (out_img[k] > 0.2) & (out_img[k] < 0.6)
        assert np.sum(tumor_from_image & (out_mask[k] == 2)) >= 0.7 * np.sum(out_mask[k] == 2)


def test_params_deterministic_given_seed():
    config = AugmentConfig(flip_prob=0.5)
    a = sample_params(8, S, config, seed=(0, 5))
    b = sample_params(8, S, config, seed=(0, 5))
    c = sample_params(8, S, config, seed=(0, 6))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # contrast and brightness within their ranges
    assert np.all(np.abs(a[:, 8] - 1) <= config.contrast) and np.all(np.abs(a[:, 9]) <= config.brightness)


def test_flips_off_by_default():
    p = sample_params(200, S, AugmentConfig(rotation_deg=0, shift=0, zoom=0), seed=0)
    assert np.all(p[:, 0] > 0)  # a flip would make the x coefficient negative


def test_brightness_contrast_and_range():
    image = np.full((1, S, S, 1), 0.6, np.float32)
    p = identity_params(1)
    p[0, 8], p[0, 9] = 2.0, 0.1
    out = _np(augment_images(image, p))
    np.testing.assert_allclose(out[0, S // 2, S // 2, 0], (0.6 - 0.5) * 2 + 0.5 + 0.1, atol=1e-6)
    p[0, 9] = 0.9
    assert _np(augment_images(image, p)).max() <= 1.0
