"""Training input: batches from the memory-mapped slice splits, and the augmenting trainer.

``SliceBatches`` reads arrays only (cheap, never starves the model);
``AugmentedTrainer`` warps images and masks with ``keras.ops`` inside the
compiled training step, on every backend and on the GPU when there is one.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from liverlib.augment import AugmentConfig, augment_images, augment_masks, sample_params
from liverlib.slice_dataset import SliceSplit


class SliceBatches(keras.utils.PyDataset):
    """Batches of a slice split, read from memory-mapped arrays.

    Every batch is a pure function of ``(seed, epoch, batch)``, never of call
    order, so prefetching, workers and a resumed run all see the same data.
    When ``infinite``, index ``i`` of the stream is epoch ``i // steps`` (plus
    ``start_epoch``): pass ``steps_per_epoch=len_epoch`` to ``fit``.

    Args:
        data: The split (``load_split``).
        batch_size: Samples per batch.
        shuffle: New order each epoch (training).
        seed: Seed of the order and of the augmentation.
        augment: Augmentation ranges, or None for none (validation).
        infinite: Stream across epochs (training) instead of one pass.
        start_epoch: First epoch of the stream (when resuming).
        tumor_fraction: With ``shuffle``, draw this share of each epoch from
            the slices with tumor (every one of them once, then repeats), the
            rest from the others, e.g. 0.4 where 22 % of slices show tumor:
            the rare class is seen more often, as nnU-Net oversamples
            foreground. It is a floor: where tumor slices are already more
            common, nothing is undersampled. The epoch's order holds
            ``len(data)`` samples (``n_used`` of them are read; see
            ``batch_multiple``). None or 0: plain shuffling.
        batch_multiple: Every batch holds a multiple of this many samples:
            the number of devices of data-parallel training, which must split
            each batch evenly (JAX refuses a batch that does not divide). The
            fewer than ``batch_multiple`` samples that the epoch's last batch
            cannot split are left out of that epoch (training: other ones each
            epoch; validation: always its last ones). 1: nothing is left out.
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size``.
    """

    def __init__(
        self,
        data: SliceSplit,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        augment: AugmentConfig | None = None,
        infinite: bool = False,
        start_epoch: int = 0,
        tumor_fraction: float | None = None,
        batch_multiple: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(data) == 0:
            raise ValueError("empty split: nothing to train or validate on")
        self.data = data
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.augment = augment
        self.infinite = infinite
        self.start_epoch = int(start_epoch)
        if batch_multiple < 1 or self.batch_size % batch_multiple:
            raise ValueError(f"batch size {self.batch_size} is not a multiple of batch_multiple {batch_multiple}")
        # Samples used per epoch: the last batch trimmed to a multiple of batch_multiple.
        self.n_used = len(data) - (len(data) % self.batch_size) % batch_multiple
        if self.n_used == 0:
            raise ValueError(f"{len(data)} samples cannot fill one batch split over {batch_multiple} devices")
        self.len_epoch = math.ceil(self.n_used / self.batch_size)
        self.size = int(data.images.shape[1])
        if tumor_fraction is not None and not 0.0 <= tumor_fraction < 1.0:
            raise ValueError(f"tumor_fraction must be in [0, 1), got {tumor_fraction}")
        self.tumor_fraction = tumor_fraction
        cancer = np.asarray(data.cancer) > 0
        self._positive, self._negative = np.nonzero(cancer)[0], np.nonzero(~cancer)[0]
        self._order = (None, None)

    @property
    def num_batches(self):
        return None if self.infinite else self.len_epoch

    def __len__(self):
        return self.len_epoch

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The sample indices of one epoch, in order (``len(data)`` of them)."""
        cached_epoch, cached = self._order  # one read: worker threads may swap it
        if cached_epoch == epoch:
            return cached
        n = len(self.data)
        rng = np.random.default_rng((self.seed, 0, epoch))
        pos, neg = self._positive, self._negative
        if not self.shuffle:
            order = np.arange(n)
        elif not self.tumor_fraction or pos.size == 0 or neg.size == 0:
            order = rng.permutation(n)
        else:
            k = min(max(pos.size, int(round(self.tumor_fraction * n))), n - 1)
            picked = [pos, rng.choice(pos, k - pos.size), rng.choice(neg, min(n - k, neg.size), replace=False)]
            order = rng.permutation(np.concatenate(picked))
        self._order = (epoch, order)
        return order

    def indices(self, epoch: int, batch: int) -> np.ndarray:
        """Sample indices of one batch (sorted: contiguous reads from the memory map)."""
        order = self.epoch_order(epoch)[: self.n_used]
        return np.sort(order[batch * self.batch_size : (batch + 1) * self.batch_size])

    def __getitem__(self, i):
        epoch, batch = divmod(int(i), self.len_epoch) if self.infinite else (0, int(i))
        epoch += self.start_epoch
        idx = self.indices(epoch, batch)
        # As stored (float16): half the bytes of float32 to copy and to send to a GPU; the
        # trainer casts to float32 inside the compiled step (exact: every float16 is a float32).
        x = {"image": np.asarray(self.data.images[idx])}
        y = {
            "seg": np.asarray(self.data.masks[idx], np.int32),
            "cancer": np.asarray(self.data.cancer[idx], np.float32)[:, None],
        }
        if self.augment is not None:
            x["aug"] = sample_params(len(idx), self.size, self.augment, (self.seed, 1, epoch, batch))
        return x, y


class AugmentedTrainer(keras.Model):
    """Wraps the U-Net for training: augments ``x["image"]`` and ``y["seg"]`` alike.

    When the batch carries ``x["aug"]`` (training), the image is warped in
    ``call`` and the mask with the same parameters in ``compute_loss`` and
    ``compute_metrics``, all with ``keras.ops`` inside the compiled step, on
    every backend. Only ``net`` is saved as a model; this wrapper has no
    weights of its own.

    Args:
        net: The U-Net from ``build_unet``.
    """

    def __init__(self, net: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.net = net

    def call(self, inputs, training=False):
        image = keras.ops.cast(inputs["image"], "float32")
        if "aug" in inputs:
            image = augment_images(image, inputs["aug"])
        return self.net(image, training=training)

    @staticmethod
    def _warp_y(x, y):
        if isinstance(x, dict) and "aug" in x and y is not None:
            y = {**y, "seg": augment_masks(y["seg"], x["aug"])}
        return y

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return super().compute_loss(x, self._warp_y(x, y), y_pred, sample_weight, training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, self._warp_y(x, y), y_pred, sample_weight)
