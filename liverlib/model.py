"""The multitask U-Net: liver/tumor segmentation and a slice-level cancer call.

One network for all three views (DESIGN.md, "Model"). The encoder halves the
resolution ``depth`` times, doubling the filters each time; the decoder mirrors
it with transposed convolutions and skip connections. Two heads:

* ``seg``: softmax over background (0), liver (1) and tumor (2), full size;
* ``cancer``: sigmoid probability that the slice holds tumor, fed by the
  encoder bottleneck through global average and max pooling (max pooling
  keeps a small lesion from being averaged away) and by the pooled ``seg``
  tumor map (its largest probability), the two paths summed into one logit. DESIGN.md names the bottleneck
  alone; the bottleneck of a 128-pixel slice is 8x8, where a 1 cm lesion is
  under one cell, so the head also reads the full-resolution tumor
  probability the decoder already computed.

Only Keras layers and ``keras.ops`` are used, so the model runs unchanged on
the TensorFlow (default) and JAX backends, and a saved ``.keras`` file loads
with ``keras.saving.load_model(path, safe_mode=True)`` (no Lambda layers).
"""

from __future__ import annotations

import keras
from keras import layers

NUM_CLASSES = 3  # background, liver, tumor
CLASS_NAMES = ("background", "liver", "tumor")


def _conv_block(x, filters: int, name: str, dropout: float = 0.0):
    """Two 3x3 conv + BatchNorm + ReLU; the convs need no bias before BatchNorm."""
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        # momentum 0.9, not Keras' 0.99: short CPU runs take ~100 steps per epoch,
        # and slow running statistics would leave validation (inference mode) behind.
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name=f"{name}_drop")(x)
    return x


def build_unet(
    image_size: int,
    channels: int,
    depth: int = 4,
    base_filters: int = 16,
    dropout: float = 0.1,
    cancer_units: int = 64,
    name: str = "liver_unet",
) -> keras.Model:
    """Build the multitask U-Net.

    Args:
        image_size: Side S of the square input slices; divisible by ``2**depth``.
        channels: Number of input channels C (HU windows).
        depth: Number of down-sampling steps (4: 128 -> 8 at the bottleneck).
        base_filters: Filters of the first level; doubled at each level.
        dropout: Dropout rate in the deepest encoder level, the bottleneck, the
            first decoder level and the cancer head (0 disables it).
        cancer_units: Width of the hidden dense layer of the cancer head.
        name: Model name.

    Returns:
        An uncompiled ``keras.Model`` taking ``(B, S, S, C)`` float images and
        returning ``{"seg": (B, S, S, 3) softmax, "cancer": (B, 1) sigmoid}``,
        both float32 even under a mixed-precision policy.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if image_size % (2**depth):
        raise ValueError(f"image_size {image_size} is not divisible by 2**depth = {2**depth}")
    inputs = keras.Input((image_size, image_size, channels), name="image")
    x = inputs
    skips = []
    for level in range(depth):
        # Dropout only where the feature maps are small and wide: regularizes
        # without erasing the fine detail the tumor boundary needs.
        rate = dropout if level == depth - 1 else 0.0
        x = _conv_block(x, base_filters * 2**level, f"enc{level}", rate)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    bottleneck = _conv_block(x, base_filters * 2**depth, "bottleneck", dropout)

    x = bottleneck
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"dec{level}_up")(x)
        x = layers.Concatenate(name=f"dec{level}_concat")([x, skips[level]])
        x = _conv_block(x, filters, f"dec{level}", dropout if level == depth - 1 else 0.0)
    # float32 heads: softmax/sigmoid and the losses stay accurate under mixed_float16.
    seg = layers.Conv2D(NUM_CLASSES, 1, activation="softmax", dtype="float32", name="seg")(x)

    # Cancer head, two evidence paths summed into one logit:
    # - the largest tumor probability of the seg head, through a weight kept
    #   non-negative (more tumor evidence never lowers the call): alone it ranks
    #   unseen slices well (validation AUC 0.82-0.88 in our demo runs), and an
    #   unconstrained head was seen to learn it with the wrong sign;
    # - the bottleneck, which sees the whole slice at the coarsest scale (average
    #   and max pooling), L2-regularised because on a few dozen training patients
    #   it memorises them.
    seg_max = layers.GlobalMaxPooling2D(name="cancer_seg_max", dtype="float32")(seg)
    tumor_max = layers.Reshape((NUM_CLASSES, 1), name="cancer_seg_max_col", dtype="float32")(seg_max)
    tumor_max = layers.Cropping1D((NUM_CLASSES - 1, 0), name="cancer_tumor_max", dtype="float32")(tumor_max)
    tumor_max = layers.Flatten(name="cancer_tumor_max_flat", dtype="float32")(tumor_max)
    from_seg = layers.Dense(
        1,
        kernel_constraint=keras.constraints.NonNeg(),
        kernel_initializer=keras.initializers.Constant(4.0),
        bias_initializer=keras.initializers.Constant(-2.0),
        dtype="float32",
        name="cancer_from_seg",
    )(tumor_max)
    bottleneck_pool = layers.Concatenate(name="cancer_pool")(
        [
            layers.GlobalAveragePooling2D(name="cancer_avg")(bottleneck),
            layers.GlobalMaxPooling2D(name="cancer_max")(bottleneck),
        ]
    )
    h = layers.Dense(cancer_units, activation="relu", name="cancer_dense")(bottleneck_pool)
    if dropout > 0:
        h = layers.Dropout(dropout, name="cancer_drop")(h)
    from_bottleneck = layers.Dense(
        1, kernel_regularizer=keras.regularizers.L2(1e-2), name="cancer_from_bottleneck"
    )(h)
    logit = layers.Add(dtype="float32", name="cancer_logit")([from_bottleneck, from_seg])
    cancer = layers.Activation("sigmoid", dtype="float32", name="cancer")(logit)
    return keras.Model(inputs, {"seg": seg, "cancer": cancer}, name=name)


def model_flops(model: keras.Model) -> int:
    """Forward-pass FLOPs of one image, counted analytically.

    Counts multiply-adds as 2 FLOPs in Conv2D, Conv2DTranspose and Dense layers
    (they hold > 99% of the work); BatchNorm, activations and pooling are left
    out. A training step costs about 3x this (forward + two backward matmuls).

    Args:
        model: A built model (e.g. from ``build_unet``).

    Returns:
        FLOPs per image for one forward pass.
    """
    flops = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2DTranspose):
            _, h, w, cin = layer.input.shape
            kh, kw = layer.kernel_size
            flops += 2 * kh * kw * cin * layer.filters * h * w
        elif isinstance(layer, layers.Conv2D):
            _, h, w, _ = layer.output.shape
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1]
            flops += 2 * kh * kw * cin * layer.filters * h * w
        elif isinstance(layer, layers.Dense):
            flops += 2 * layer.input.shape[-1] * layer.units
    return int(flops)


def training_memory_bytes(
    model: keras.Model, batch_size: int, mixed_precision: bool = False
) -> dict:
    """Estimate the accelerator memory of training (a lower estimate, not a bound).

    Parameters: weights, gradients and two Adam moments (4 x float32, plus a
    float32 master copy is already the weight itself under mixed precision).
    Activations: every layer output is kept for the backward pass (2 bytes
    per value under mixed_float16, else 4), at the given batch size, times 2
    for the gradient buffers of the same size alive during the backward pass.
    Not counted: the compiler's temporary buffers, the augmentation's and the
    convolutions' workspaces. On an H200 (JAX, mixed precision) the full
    profile's model at batch 32 measured a 5.09 GiB peak against 2.34 GiB
    estimated here (``docs/gpu.md``).

    Args:
        model: A built model.
        batch_size: Per-device batch size.
        mixed_precision: Activations in float16.

    Returns:
        ``{"params": n, "param_bytes": ..., "activation_bytes": ..., "total_bytes": ...}``.
    """
    params = int(model.count_params())
    param_bytes = 4 * params * 4
    act_bytes = 2 if mixed_precision else 4
    values = 0
    for layer in model.layers[1:]:
        for out in keras.tree.flatten(layer.output):
            n = 1
            for d in out.shape[1:]:
                n *= int(d)
            values += n
    activation_bytes = 2 * values * batch_size * act_bytes
    return {
        "params": params,
        "param_bytes": param_bytes,
        "activation_bytes": activation_bytes,
        "total_bytes": param_bytes + activation_bytes,
    }
