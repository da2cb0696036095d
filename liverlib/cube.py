"""The study cube: a study resampled into one ``(S, S, S)`` cube, and back.

A study of any shape and spacing becomes one ``(S, S, S)`` cube, so that the
axial, coronal and sagittal slices all have ``S x S`` pixels of one physical
size, and a prediction made on the cube maps back exactly (up to
interpolation) onto the study's own voxels:

1. the study is resampled to an isotropic grid of ``spacing_mm`` (conceptually:
   the grid starts at the centre of voxel ``[0, 0, 0]``);
2. the body is found by an HU threshold (largest connected component above
   -500 HU, so air, the table and noise are left out; no label is needed) and
   its bounding box is widened by a small margin;
3. the box is grown to a cube of side ``L`` resampled voxels, centred on the
   body; parts of the cube beyond the study are air (-1024 HU, label 0);
4. the cube is resized to ``S`` voxels per side (centre-aligned, like
   ``torch``'s ``align_corners=False``).

Steps 1-4 are one affine map per axis, ``study_index = scale * cube_index +
offset``, so they run as a single ``scipy.ndimage.affine_transform`` (linear
for HU, nearest for labels) and :func:`to_study_grid` runs its inverse. The
:class:`StudyGrid` records every number needed, and is JSON-serialisable.

The three views slice this cube (:mod:`liverlib.views`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

from liverlib.volume import Volume

DEFAULT_SPACING_MM = 1.6
DEFAULT_IMAGE_SIZE = 128
AIR_HU = -1024.0
#: Voxels above this are "body" (fat is about -100 HU, lung about -850).
BODY_THRESHOLD_HU = -500.0
#: Margin added around the body's bounding box (the "little dilation").
BODY_MARGIN_MM = 5.0
#: The body mask only needs a bounding box: find it on a grid this coarse.
BODY_GRID_MM = 4.0


@dataclass(frozen=True)
class StudyGrid:
    """How a study's voxel grid maps onto its ``(S, S, S)`` cube, and back.

    Args:
        shape: Study shape ``(z, y, x)``.
        spacing: Study spacing ``(dz, dy, dx)`` in mm.
        spacing_mm: Isotropic resampling step in mm, e.g. 1.6.
        resampled_shape: Study shape on the ``spacing_mm`` grid.
        body_box: ``((z0, z1), (y0, y1), (x0, x1))``, the body's bounding box
            (margin included) in resampled voxels, ends inclusive.
        cube_start: First resampled voxel of the cube per axis (negative when
            the cube reaches beyond the study: that part is padding).
        cube_side: Side ``L`` of the cube in resampled voxels.
        size: Side ``S`` of the output cube (the image size), e.g. 128.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    spacing_mm: float
    resampled_shape: tuple[int, int, int]
    body_box: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    cube_start: tuple[int, int, int]
    cube_side: int
    size: int

    @property
    def cube_spacing_mm(self) -> float:
        """Physical size of one cube voxel (the pixel size of every view), mm."""
        return self.cube_side * self.spacing_mm / self.size

    @property
    def padding(self) -> tuple[tuple[int, int], ...]:
        """Resampled voxels of the cube beyond the study, ``(before, after)`` per axis."""
        return tuple(
            (max(0, -s), max(0, s + self.cube_side - n))
            for s, n in zip(self.cube_start, self.resampled_shape)
        )

    def scale_offset(self) -> tuple[np.ndarray, np.ndarray]:
        """Per axis, ``study_index = scale * cube_index + offset`` (voxel centres)."""
        step = self.spacing_mm / np.asarray(self.spacing, float)  # resampled -> study index
        ratio = self.cube_side / self.size  # cube -> resampled voxels
        scale = ratio * step
        offset = (np.asarray(self.cube_start, float) + 0.5 * ratio - 0.5) * step
        return scale, offset

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (for a prediction's summary.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StudyGrid:
        return cls(
            shape=tuple(int(n) for n in data["shape"]),
            spacing=tuple(float(s) for s in data["spacing"]),
            spacing_mm=float(data["spacing_mm"]),
            resampled_shape=tuple(int(n) for n in data["resampled_shape"]),
            body_box=tuple((int(a), int(b)) for a, b in data["body_box"]),
            cube_start=tuple(int(s) for s in data["cube_start"]),
            cube_side=int(data["cube_side"]),
            size=int(data["size"]),
        )


def body_box(hu: np.ndarray, spacing, threshold_hu: float = BODY_THRESHOLD_HU, margin_mm: float = BODY_MARGIN_MM):
    """Bounding box of the body in mm from voxel ``[0, 0, 0]``'s centre.

    Args:
        hu: Study ``(z, y, x)`` in HU.
        spacing: ``(dz, dy, dx)`` mm.
        threshold_hu: Body is above this (-500 HU keeps fat at -100 HU, drops
            air at -1000 HU).
        margin_mm: Added on every side.

    Returns:
        ``(lo_mm, hi_mm)``, two arrays of 3; the whole study when nothing is
        above the threshold.
    """
    spacing = np.asarray(spacing, float)
    stride = np.maximum(1, (BODY_GRID_MM // spacing).astype(int))
    coarse = hu[:: stride[0], :: stride[1], :: stride[2]] > threshold_hu
    labels, n = ndi.label(coarse)
    if n == 0:
        lo, hi = np.zeros(3), (np.asarray(hu.shape) - 1) * spacing
        return lo, hi
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    box = ndi.find_objects(labels)[int(np.argmax(sizes)) - 1]
    # Full-resolution voxels between coarse samples may be body too: widen by one step.
    lo = np.maximum(np.array([s.start for s in box]) * stride - (stride - 1), 0)
    hi = np.minimum((np.array([s.stop for s in box]) - 1) * stride + stride - 1, np.asarray(hu.shape) - 1)
    return lo * spacing - margin_mm, hi * spacing + margin_mm


def study_grid(volume: Volume, spacing_mm: float = DEFAULT_SPACING_MM, image_size: int = DEFAULT_IMAGE_SIZE) -> StudyGrid:
    """Plan the cube of a study: body box, cube placement and side.

    Args:
        volume: The study (only ``hu``, ``spacing`` and ``shape`` are used).
        spacing_mm: Isotropic resampling step, e.g. 1.6 mm.
        image_size: Cube side ``S`` in voxels (the slice size), e.g. 128.

    Returns:
        The StudyGrid.
    """
    spacing = np.asarray(volume.spacing, float)
    shape = np.asarray(volume.shape)
    # Resampled voxel r sits at r * spacing_mm from voxel 0; stay inside the study.
    resampled = np.floor((shape - 1) * spacing / spacing_mm + 1e-6).astype(int) + 1
    lo_mm, hi_mm = body_box(volume.hu, spacing)
    lo = np.clip(np.floor(lo_mm / spacing_mm).astype(int), 0, resampled - 1)
    hi = np.clip(np.ceil(hi_mm / spacing_mm).astype(int), lo, resampled - 1)
    extent = hi - lo + 1
    side = int(extent.max())
    start = lo - (side - extent) // 2  # centre the body in the cube
    return StudyGrid(
        shape=tuple(int(n) for n in shape),
        spacing=tuple(float(s) for s in spacing),
        spacing_mm=float(spacing_mm),
        resampled_shape=tuple(int(n) for n in resampled),
        body_box=tuple((int(a), int(b)) for a, b in zip(lo, hi)),
        cube_start=tuple(int(s) for s in start),
        cube_side=side,
        size=int(image_size),
    )


def antialias_sigma(scale) -> np.ndarray:
    """Gaussian sigma, in study voxels, to blur with before sampling every ``scale``-th voxel.

    ``(scale - 1) / 2`` where the cube is coarser than the study (as
    ``skimage.transform.resize`` does with ``anti_aliasing``), 0 where it is as
    fine or finer: a 512-matrix study (0.7 mm pixels) sampled at 1.9 mm keeps
    every voxel's full noise (and aliases edges) unless it is averaged first.
    """
    return np.maximum(0.0, (np.asarray(scale, float) - 1.0) / 2.0)


def _antialiased(array: np.ndarray, scale: np.ndarray, offset: np.ndarray, size: int):
    """Blur the part of ``array`` the cube samples (see :func:`antialias_sigma`).

    Returns ``(array, offset)``: the blurred crop and the offset into it (the
    same array and offset where nothing is coarser).
    """
    sigma = antialias_sigma(scale)
    if sigma.max() < 0.1:  # under a tenth of a voxel: nothing to gain
        return array, offset
    # Only the study voxels the cube reaches (plus the filter's reach) are blurred.
    reach = np.ceil(3 * sigma).astype(int) + 2
    lo = np.clip(np.floor(offset).astype(int) - reach, 0, np.asarray(array.shape) - 1)
    hi = np.clip(np.ceil(offset + scale * (size - 1)).astype(int) + reach + 1, lo + 1, np.asarray(array.shape))
    crop = np.array(array[tuple(slice(a, b) for a, b in zip(lo, hi))], np.float32)  # a copy: blurred in place
    ndi.gaussian_filter(crop, sigma, output=crop, mode="nearest", truncate=3.0)
    return crop, offset - lo


def to_cube(array: np.ndarray, grid: StudyGrid, *, order: int = 1, fill: float = AIR_HU, dtype=np.float32,
            antialias: bool = True) -> np.ndarray:
    """Resample a study-grid array into the grid's ``(S, S, S)`` cube.

    Along an axis where the cube is coarser than the study, HU (``order`` >=
    1) are blurred first (:func:`antialias_sigma`): a cube voxel then averages
    the study voxels it covers instead of sampling one of them, so the noise
    and the look of a small lesion depend less on the scanner's pixel size.

    Args:
        array: ``(z, y, x)`` on the study grid (HU, or a label with order 0).
        grid: From :func:`study_grid`.
        order: 1 (linear) for HU, 0 (nearest) for labels.
        fill: Value beyond the study (-1024 HU air; 0 for labels).
        dtype: Output dtype.
        antialias: Blur before sampling where the cube is coarser (False: the
            slices of datasets built before it, ``PredictParams.antialias``).

    Returns:
        The cube, ``(S, S, S)``.
    """
    scale, offset = grid.scale_offset()
    size = grid.size
    if order >= 1 and antialias:
        array, offset = _antialiased(array, scale, offset, size)
    return ndi.affine_transform(
        array, scale, offset=offset, output_shape=(size, size, size), output=dtype,
        order=order, mode="constant", cval=fill, prefilter=False,
    )


def prepare_volume(
    volume: Volume, spacing_mm: float = DEFAULT_SPACING_MM, image_size: int = DEFAULT_IMAGE_SIZE,
    antialias: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, StudyGrid]:
    """Turn a study into its HU cube (and label cube) for slicing.

    Args:
        volume: The study; ``hu`` e.g. -1000 HU air, 100-130 HU enhanced liver.
        spacing_mm: Isotropic resampling step in mm (1.5-2 mm suits 128 px).
        image_size: Cube side ``S``, e.g. 128.
        antialias: Blur HU before sampling a coarser cube (:func:`to_cube`).

    Returns:
        ``(cube_hu, cube_label, grid)``: float32 ``(S, S, S)`` HU (air -1024
        outside the study), uint8 ``(S, S, S)`` labels 0/1/2 or None, and the
        StudyGrid that maps back with :func:`to_study_grid`.
    """
    grid = study_grid(volume, spacing_mm, image_size)
    cube_hu = to_cube(volume.hu, grid, order=1, fill=AIR_HU, antialias=antialias)
    cube_label = None
    if volume.label is not None:
        cube_label = to_cube(volume.label, grid, order=0, fill=0, dtype=np.uint8)
    return cube_hu, cube_label, grid


def to_study_grid(
    cube: np.ndarray, grid: StudyGrid, *, order: int = 1, fill=None, derive_background: bool = False,
    z_range: tuple[int, int] | None = None,
) -> np.ndarray:
    """Map a cube (e.g. class probabilities) back onto the study's voxel grid.

    Linear interpolation is linear, so the mean of three views mapped back
    equals the mapped-back mean: fuse in cube space and map once when only
    the fusion is needed.

    Args:
        cube: ``(S, S, S, K)`` float (probabilities of background, liver,
            tumor) or ``(S, S, S)``.
        grid: The StudyGrid from :func:`prepare_volume`.
        order: 1 (linear) for probabilities, 0 (nearest) for labels.
        fill: Per-channel value for study voxels outside the cube (not body);
            default: background one-hot ``(1, 0, ..., 0)`` when K > 1, else 0.
        derive_background: The K channels sum to 1 (softmax): resample only
            channels 1..K-1 and set channel 0 to one minus their sum (exact for
            linear interpolation, and a third faster for K = 3).
        z_range: ``(z0, z1)``: only the study slices ``z0 <= z < z1`` (a slab,
            so a 512x512x600 study need not hold all its probabilities at once);
            default all. The same values as the whole mapping's slab, up to
            rounding (about 1e-7); a study voxel that lies exactly on the
            cube's face may fall inside in one and outside in the other.

    Returns:
        float32 ``(z, y, x, K)`` (or ``(z, y, x)``) on the study grid (on the
        slab with ``z_range``); argmax over K gives the label.
    """
    size = grid.size
    if cube.shape[:3] != (size, size, size):
        raise ValueError(f"cube shape {cube.shape} does not match the grid's size {size}")
    squeeze = cube.ndim == 3
    channels = cube.reshape(cube.shape[:3] + (-1,))
    k = channels.shape[-1]
    if fill is None:
        fill = np.eye(1, k, 0, dtype=np.float32)[0] if k > 1 else np.zeros(1, np.float32)
    fill = np.broadcast_to(np.asarray(fill, np.float32), (k,))
    scale, offset = grid.scale_offset()
    shape = tuple(grid.shape)
    if z_range is not None:  # output slice i is study slice z0 + i
        z0, z1 = int(z_range[0]), int(z_range[1])
        if not 0 <= z0 < z1 <= shape[0]:
            raise ValueError(f"z_range {z_range} is not inside the study's {shape[0]} slices")
        shape = (z1 - z0,) + shape[1:]
        offset = offset - np.array([z0, 0.0, 0.0])
    out = np.empty((k,) + shape, np.float32)
    first = 1 if derive_background and k > 1 else 0
    for c in range(first, k):  # K is 3 at most: one C-level resample per class
        # "constant" leaves study voxels beyond the cube at `fill` (and skips them: fast).
        ndi.affine_transform(
            np.ascontiguousarray(channels[..., c], dtype=np.float32), 1.0 / scale, offset=-offset / scale,
            output_shape=shape, output=out[c], order=order, mode="constant", cval=float(fill[c]),
            prefilter=False,
        )
    if first:
        np.subtract(1.0, out[1:].sum(axis=0), out=out[0])
    out = np.moveaxis(out, 0, -1)
    return out[..., 0] if squeeze else out
