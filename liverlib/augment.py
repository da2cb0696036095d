"""On-the-fly augmentation applied identically to a slice and its mask.

Two halves, so that augmentation is deterministic, resumable and cheap:

1. ``sample_params`` (numpy, on the host): draws one random affine transform
   and one brightness/contrast pair per sample from a seed, e.g.
   ``(seed, epoch, batch)``. Ten floats per sample; nothing is stored on disk.
2. ``augment_images`` / ``augment_masks`` (``keras.ops``, on the device):
   warp a batch with those parameters, bilinear for images and nearest for
   masks, so labels stay 0/1/2. They run inside the training step on the
   TensorFlow and JAX backends alike, on the GPU when there is one, so the
   input pipeline only reads arrays and cannot starve the model.

Left-right flips are off by default (``flip_prob=0``). Every slice is in
radiological display (patient right on image left, DESIGN.md), so the liver
is always on the image left in axial and coronal views and the view's
anterior/posterior direction is fixed in sagittal ones. A mirrored slice is
a mirrored patient (situs inversus, ~1 in 10,000): flipping would teach the
network that a liver-like organ on the other side (the spleen) may be liver.
Rotation, shift, zoom and intensity changes model the real variation
(patient position, body size, scanner calibration) without that cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

N_PARAMS = 10  # 8 projective coefficients (a0 a1 a2 b0 b1 b2 c0 c1) + contrast + brightness


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random augmentation.

    Args:
        rotation_deg: Rotation drawn from [-r, r] degrees.
        shift: Shift along each axis, drawn from [-s, s] times the image size.
        zoom: Scale drawn from [1 - z, 1 + z].
        flip_prob: Probability of a left-right flip (see module docstring: 0).
        brightness: Added intensity, drawn from [-b, b] (images are in [0, 1]).
        contrast: Contrast factor around 0.5, drawn from [1 - c, 1 + c].
    """

    rotation_deg: float = 10.0
    shift: float = 0.08
    zoom: float = 0.1
    flip_prob: float = 0.0
    brightness: float = 0.05
    contrast: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


def identity_params(n: int) -> np.ndarray:
    """Parameters that leave ``n`` samples unchanged."""
    p = np.zeros((n, N_PARAMS), np.float32)
    p[:, 0] = p[:, 4] = 1.0
    p[:, 8] = 1.0
    return p


def affine_params(
    size: int,
    angle_deg=0.0,
    zoom=1.0,
    shift_x=0.0,
    shift_y=0.0,
    flip=False,
) -> np.ndarray:
    """The 8 transform coefficients of one geometric transform.

    The output pixel ``p`` (x = column, y = row) reads the input at
    ``R(-angle) (p - c - t) / zoom + c`` (after a flip of ``p`` when ``flip``),
    with ``c`` the image centre: content is rotated by ``angle`` (counter-
    clockwise on screen), scaled by ``zoom`` and moved by ``(shift_x, shift_y)``
    pixels (right, down).

    Args:
        size: Image side S.
        angle_deg: Rotation in degrees.
        zoom: Scale factor (> 1 enlarges).
        shift_x: Shift to the right, in pixels.
        shift_y: Shift down, in pixels.
        flip: Mirror left-right.

    Returns:
        float32 (8,) in the layout of ``keras.ops.image.affine_transform``.
    """
    c = (size - 1) / 2.0
    a = np.deg2rad(angle_deg)
    # Rows are (x, y) because keras' transform maps output (x, y) to input (x, y).
    inv_rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) / zoom
    m = np.eye(3)
    m[:2, :2] = inv_rot
    m[:2, 2] = c - inv_rot @ np.array([c + shift_x, c + shift_y])
    if flip:
        f = np.array([[-1.0, 0.0, 2 * c], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        m = m @ f
    return m.reshape(-1)[:8].astype(np.float32)


def sample_params(
    n: int, size: int, config: AugmentConfig, seed: int | tuple | list
) -> np.ndarray:
    """Draw the augmentation parameters of ``n`` samples.

    Args:
        n: Number of samples.
        size: Image side S (shifts are a fraction of it).
        config: The ranges.
        seed: Anything ``np.random.default_rng`` accepts, e.g. ``(seed, epoch, batch)``.

    Returns:
        float32 ``(n, 10)``: 8 transform coefficients, contrast, brightness.
    """
    rng = np.random.default_rng(seed)
    angle = rng.uniform(-config.rotation_deg, config.rotation_deg, n)
    zoom = rng.uniform(1.0 - config.zoom, 1.0 + config.zoom, n)
    shift = rng.uniform(-config.shift, config.shift, (n, 2)) * size
    flip = rng.random(n) < config.flip_prob
    contrast = rng.uniform(1.0 - config.contrast, 1.0 + config.contrast, n)
    brightness = rng.uniform(-config.brightness, config.brightness, n)
    out = np.empty((n, N_PARAMS), np.float32)
    for i in range(n):
        out[i, :8] = affine_params(size, angle[i], zoom[i], shift[i, 0], shift[i, 1], flip[i])
    out[:, 8] = contrast
    out[:, 9] = brightness
    return out


def augment_images(images, params):
    """Warp a batch of images; intensity change first, so the padding stays 0.

    Args:
        images: ``(B, S, S, C)`` float tensor in [0, 1].
        params: ``(B, 10)`` from ``sample_params``.

    Returns:
        float32 ``(B, S, S, C)``.
    """
    from keras import ops

    images = ops.cast(images, "float32")
    params = ops.cast(params, "float32")
    contrast = ops.reshape(params[:, 8], (-1, 1, 1, 1))
    brightness = ops.reshape(params[:, 9], (-1, 1, 1, 1))
    images = ops.clip((images - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)
    return ops.image.affine_transform(
        images, params[:, :8], interpolation="bilinear", fill_mode="constant",
        fill_value=0.0, data_format="channels_last",
    )


def augment_masks(masks, params):
    """Warp a batch of label maps with the same transforms (nearest neighbour).

    Args:
        masks: ``(B, S, S)`` or ``(B, S, S, 1)`` integer labels.
        params: ``(B, 10)`` from ``sample_params``.

    Returns:
        int32 labels, same shape as ``masks``; pixels from outside the image are 0.
    """
    from keras import ops

    squeeze = len(masks.shape) == 3
    m = ops.cast(masks, "float32")
    if squeeze:
        m = ops.expand_dims(m, -1)
    m = ops.image.affine_transform(
        m, ops.cast(params[:, :8], "float32"), interpolation="nearest",
        fill_mode="constant", fill_value=0.0, data_format="channels_last",
    )
    m = ops.cast(ops.round(m), "int32")
    return ops.squeeze(m, -1) if squeeze else m
