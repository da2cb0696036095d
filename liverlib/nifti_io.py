"""NIfTI studies (LiTS, MSD Task03) in and label masks out.

Orientation comes from the NIfTI affine only: whatever the voxel order or
axis flips, the array is reoriented (nibabel's orientation tools, no
resampling) into the Volume's (z, y, x) LPS order. Writing goes the other way,
so a predicted mask lands on the same voxels as the study it came from.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from liverlib.errors import (
    CorruptImageError,
    GeometryMismatchError,
    LabelValueError,
    UnsupportedImageError,
)
from liverlib.volume import LPS_TO_RAS

# Array axes (i, j, k) of the canonical (x, y, z) order point to L, P, S.
CANONICAL_AXCODES = ("L", "P", "S")


def load_nifti(path: str | Path):
    """Load a NIfTI image's header (voxels are read later, lazily).

    Args:
        path: A ``.nii`` or ``.nii.gz`` file.

    Returns:
        The nibabel image.

    Raises:
        CorruptImageError: The header cannot be read (truncated, not NIfTI).
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    try:
        img = nib.load(str(path))
        img.header.get_data_shape()
    except ImageFileError:
        # nibabel's "Cannot work out file type": its header sniff failed, which
        # a .nii.gz cut short (an interrupted download) gives as well.
        raise CorruptImageError(path, "truncated or not a NIfTI file (no readable NIfTI header)") from None
    except Exception as exc:  # nibabel raises many types for bad files
        raise CorruptImageError(path, f"not a readable NIfTI file ({_why(exc, path)})") from None
    return img


def _why(exc: Exception, path: str | Path) -> str:
    """An exception's message with the file's folders left out (reasons are logged without paths)."""
    return f"{type(exc).__name__}: {str(exc).replace(str(path), Path(path).name)}"


def _ornt_to_canonical(affine: np.ndarray):
    import nibabel as nib

    current = nib.orientations.io_orientation(affine)
    target = nib.orientations.axcodes2ornt(CANONICAL_AXCODES)
    return nib.orientations.ornt_transform(current, target)


def nifti_to_canonical(img, path: str | Path, *, as_label: bool = False):
    """Reorient a NIfTI image into (z, y, x) LPS and describe its geometry.

    Args:
        img: A nibabel image.
        path: Its file, for error messages.
        as_label: Read integer labels (checked to be 0/1/2) instead of HU.

    Returns:
        ``(array, spacing, origin, direction)`` in the Volume convention.

    Raises:
        UnsupportedImageError: Not one 3D volume (a 4D series, a 2D image).
        CorruptImageError: Voxels truncated, or NaN/infinite HU.
        LabelValueError: A label value other than 0, 1, 2.
    """
    import nibabel as nib

    shape = tuple(img.shape)
    # (X, Y, Z, 1): a 3D volume some converters save with a singleton time axis.
    if len(shape) < 3 or any(n != 1 for n in shape[3:]):
        raise UnsupportedImageError(
            path, f"expected one 3D volume, got shape {shape} (4D series and 2D images are not read)"
        )
    affine = img.affine
    transform = _ornt_to_canonical(affine)
    try:
        data = np.asanyarray(img.dataobj).reshape(shape[:3])
    except Exception as exc:
        raise CorruptImageError(path, f"image data truncated or damaged ({_why(exc, path)})") from None
    if as_label:
        rounded = np.rint(data)
        bad = np.setdiff1d(np.unique(rounded), [0, 1, 2])
        if bad.size or not np.array_equal(rounded, data):
            shown = ", ".join(f"{v:g}" for v in bad[:5]) if bad.size else "non-integers"
            raise LabelValueError(path, f"label values must be 0 (background), 1 (liver), 2 (tumor); found {shown}")
        data = rounded.astype(np.uint8)
    elif np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float32, copy=False)
        if not np.isfinite(data).all():
            # NaN (some converters write it outside the scan field) has no HU:
            # cast to int16 for the cache it would become 0 HU, water.
            bad = int(np.count_nonzero(~np.isfinite(data)))
            raise CorruptImageError(
                path, f"{bad} of {data.size} voxels are not finite (NaN or infinity): no HU to read them as"
            )
        # int16 only when every voxel is a whole HU value (checked on all voxels:
        # a sample could miss fractional slices and truncate them silently).
        if np.array_equal(data, np.rint(data)) and data.min() >= -32768 and data.max() <= 32767:
            data = data.astype(np.int16)
    else:
        data = data.astype(np.int16) if data.min() >= -32768 and data.max() <= 32767 else data.astype(np.float32)
    xyz = nib.orientations.apply_orientation(data, transform)
    new_affine = affine @ nib.orientations.inv_ornt_aff(transform, data.shape)
    zooms = np.linalg.norm(new_affine[:3, :3], axis=0)
    direction_lps = LPS_TO_RAS @ (new_affine[:3, :3] / zooms)
    origin_lps = LPS_TO_RAS @ new_affine[:3, 3]
    array = np.ascontiguousarray(np.transpose(xyz, (2, 1, 0)))
    spacing = (float(zooms[2]), float(zooms[1]), float(zooms[0]))
    return array, spacing, tuple(float(v) for v in origin_lps), direction_lps


def check_same_grid(img, ref, path: str | Path, ref_path: str | Path) -> None:
    """Raise GeometryMismatchError unless ``img`` lies on ``ref``'s voxel grid."""
    if tuple(img.shape[:3]) != tuple(ref.shape[:3]):
        raise GeometryMismatchError(path, f"shape {tuple(img.shape)} differs from image {Path(ref_path).name} {tuple(ref.shape)}")
    if not np.allclose(img.affine, ref.affine, atol=1e-3):
        raise GeometryMismatchError(path, f"affine differs from image {Path(ref_path).name} (different voxel grid)")


def write_label_nifti(label: np.ndarray, volume, path: str | Path) -> Path:
    """Write a (z, y, x) label as NIfTI on the study's own grid and voxel order.

    For a study read from NIfTI the canonical reorientation is undone, so the
    file has the input's shape, affine and voxel order (it overlays voxel for
    voxel in 3D Slicer or ITK-SNAP). For DICOM studies the canonical grid is
    written with its LPS geometry converted to the NIfTI (RAS) affine.

    Args:
        label: uint8 (z, y, x), 0 background, 1 liver, 2 tumor.
        volume: The Volume the label belongs to.
        path: Output ``.nii.gz`` (written to a temporary name, then renamed).

    Returns:
        The written path.
    """
    import nibabel as nib

    xyz = np.transpose(np.asarray(label, dtype=np.uint8), (2, 1, 0))
    source_affine = volume.meta.get("nifti_affine")
    if source_affine is not None:
        affine = np.asarray(source_affine, dtype=float)
        inverse = nib.orientations.ornt_transform(
            nib.orientations.axcodes2ornt(CANONICAL_AXCODES), nib.orientations.io_orientation(affine)
        )
        data = nib.orientations.apply_orientation(xyz, inverse)
    else:
        affine, data = volume.affine_ras(), xyz
    return save_nifti(data, affine, path, description="liverlib label 0 bg 1 liver 2 tumor")


def write_volume_nifti(array: np.ndarray, volume, path: str | Path, axcodes=CANONICAL_AXCODES) -> Path:
    """Export a (z, y, x) array of ``volume`` as NIfTI with any voxel order.

    Args:
        array: HU or labels on the Volume's grid, e.g. ``volume.hu``.
        volume: Supplies the geometry.
        path: Output ``.nii`` or ``.nii.gz``.
        axcodes: Where the file's i, j, k axes point, e.g. ``("R", "A", "S")``
            for the RAS+ order most NIfTI tools write; the affine records it,
            so every choice describes the same anatomy.

    Returns:
        The written path.
    """
    import nibabel as nib

    xyz = np.transpose(np.asarray(array), (2, 1, 0))
    transform = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt(CANONICAL_AXCODES), nib.orientations.axcodes2ornt(tuple(axcodes))
    )
    data = nib.orientations.apply_orientation(xyz, transform)
    affine = volume.affine_ras() @ nib.orientations.inv_ornt_aff(transform, xyz.shape)
    return save_nifti(data, affine, path)


def save_nifti(data: np.ndarray, affine: np.ndarray, path: str | Path, description: str = "liverlib") -> Path:
    """Save with qform and sform set, to a temporary name first, then rename."""
    import nibabel as nib

    path = Path(path)
    img = nib.Nifti1Image(np.ascontiguousarray(data), affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header["descrip"] = description.encode()[:79]
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".nii.gz" if path.name.endswith(".gz") else ".nii"
    tmp = path.with_name(path.name[: -len(suffix)] + ".part" + suffix)
    nib.save(img, str(tmp))
    os.replace(tmp, path)
    return path
