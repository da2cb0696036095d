"""Losses and metrics of the multitask U-Net (Keras-serializable).

* ``DiceCELoss`` for ``seg``: soft Dice over the foreground classes (liver,
  tumor) plus class-weighted cross-entropy. Dice is insensitive to how rare a
  class is; the tumor class weight makes cross-entropy care about the few
  tumor pixels too.
* ``keras.losses.BinaryCrossentropy`` for ``cancer`` (no custom code needed).
* ``DiceScore``: hard Dice of one class, pooled over all pixels seen since
  the last reset (an epoch), so slices without the class do not count as 0/0.

All are registered under the ``liverlib`` package so that a compiled model
saved as ``.keras`` loads with ``safe_mode=True``.
"""

from __future__ import annotations

import keras
from keras import ops

from liverlib.model import NUM_CLASSES


def _sparse_labels(y_true):
    """(B, S, S) or (B, S, S, 1) labels to int32 (B, S, S)."""
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == 4:
        y_true = ops.squeeze(y_true, axis=-1)
    return ops.cast(y_true, "int32")


@keras.saving.register_keras_serializable(package="liverlib")
class DiceCELoss(keras.losses.Loss):
    """Soft Dice + class-weighted categorical cross-entropy.

    Args:
        class_weights: Cross-entropy weight of background, liver, tumor.
        dice_weight: Weight of the Dice term.
        ce_weight: Weight of the cross-entropy term.
        smooth: Added to the Dice numerator and denominator (empty classes give 1).
        name: Loss name.

    ``y_true`` holds integer labels ``(B, S, S)``; ``y_pred`` softmax
    probabilities ``(B, S, S, 3)``. Dice is computed over the whole batch
    ("batch Dice", as nnU-Net does), averaged over liver and tumor.
    """

    def __init__(
        self,
        class_weights=(1.0, 1.0, 5.0),
        dice_weight: float = 1.0,
        ce_weight: float = 1.0,
        smooth: float = 1.0,
        name: str = "dice_ce",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.class_weights = tuple(float(w) for w in class_weights)
        self.dice_weight = float(dice_weight)
        self.ce_weight = float(ce_weight)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        labels = _sparse_labels(y_true)
        y_pred = ops.cast(y_pred, "float32")
        onehot = ops.one_hot(labels, NUM_CLASSES, dtype="float32")
        probs = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)
        # Weighted mean of per-pixel CE, so the magnitude stays that of plain CE.
        pixel_w = ops.take(ops.convert_to_tensor(self.class_weights, "float32"), labels)
        ce = -ops.sum(onehot * ops.log(probs), axis=-1)
        ce = ops.sum(pixel_w * ce) / ops.sum(pixel_w)
        inter = ops.sum(onehot * y_pred, axis=(0, 1, 2))
        denom = ops.sum(onehot, axis=(0, 1, 2)) + ops.sum(y_pred, axis=(0, 1, 2))
        dice = (2.0 * inter + self.smooth) / (denom + self.smooth)
        dice_loss = 1.0 - ops.mean(dice[1:])  # foreground classes only
        loss = self.dice_weight * dice_loss + self.ce_weight * ce
        # One value per sample so Keras' batch reduction returns the same scalar.
        return ops.broadcast_to(loss, ops.shape(labels)[:1])

    def get_config(self):
        config = super().get_config()
        config.update(
            class_weights=list(self.class_weights),
            dice_weight=self.dice_weight,
            ce_weight=self.ce_weight,
            smooth=self.smooth,
        )
        return config


@keras.saving.register_keras_serializable(package="liverlib")
class DiceScore(keras.metrics.Metric):
    """Hard Dice of one class, pooled over every pixel since the last reset.

    Args:
        class_id: 1 liver, 2 tumor.
        name: Metric name (logged as ``<output>_<name>``).

    Dice = 2|P & T| / (|P| + |T|) with P the argmax prediction; 1.0 when both
    are empty.
    """

    def __init__(self, class_id: int, name: str | None = None, **kwargs):
        super().__init__(name=name or f"dice_{class_id}", **kwargs)
        self.class_id = int(class_id)
        self.intersection = self.add_variable((), initializer="zeros", name="intersection")
        self.total = self.add_variable((), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = _sparse_labels(y_true)
        pred = ops.argmax(y_pred, axis=-1)
        t = ops.cast(ops.equal(labels, self.class_id), "float32")
        p = ops.cast(ops.equal(pred, self.class_id), "float32")
        self.intersection.assign_add(ops.sum(t * p))
        self.total.assign_add(ops.sum(t) + ops.sum(p))

    def result(self):
        return ops.where(
            ops.greater(self.total, 0.0),
            2.0 * self.intersection / ops.maximum(self.total, 1.0),
            1.0,
        )

    def reset_state(self):
        self.intersection.assign(0.0)
        self.total.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id}


def make_losses(
    tumor_class_weight: float = 5.0,
    dice_weight: float = 1.0,
    ce_weight: float = 1.0,
    seg_loss_weight: float = 1.0,
    cancer_loss_weight: float = 0.5,
) -> tuple[dict, dict]:
    """Losses and loss weights for ``model.compile``.

    Args:
        tumor_class_weight: Cross-entropy weight of tumor pixels (liver and background: 1).
        dice_weight: Weight of soft Dice in the ``seg`` loss.
        ce_weight: Weight of cross-entropy in the ``seg`` loss.
        seg_loss_weight: Weight of the ``seg`` loss in the total.
        cancer_loss_weight: Weight of the ``cancer`` BCE in the total.

    Returns:
        ``(loss, loss_weights)`` dicts keyed by output name.
    """
    loss = {
        "seg": DiceCELoss((1.0, 1.0, tumor_class_weight), dice_weight, ce_weight),
        "cancer": keras.losses.BinaryCrossentropy(name="bce"),
    }
    return loss, {"seg": float(seg_loss_weight), "cancer": float(cancer_loss_weight)}


def make_metrics() -> dict:
    """Metrics for ``model.compile``: Dice of liver and tumor, AUC of the cancer call."""
    return {
        "seg": [DiceScore(1, name="liver_dice"), DiceScore(2, name="tumor_dice")],
        "cancer": [keras.metrics.AUC(name="auc")],
    }
