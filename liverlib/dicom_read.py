"""Read a folder of DICOM files as a CT volume, the way careful readers do.

Like dcm2niix, dicom2nifti and SimpleITK: files are grouped by
SeriesInstanceUID, localizers/scouts and non-image objects are dropped, slices
are sorted by their position projected on the slice normal (never by file name
or InstanceNumber), orientation and spacing are checked, and stored values
become Hounsfield units through RescaleSlope/Intercept (or the Modality LUT
Sequence, via pydicom). Compressed transfer syntaxes decode through the
pylibjpeg plugins.

When a folder holds several CT series of one study, the one with the most
slices is read (the lower SeriesNumber between equals) and the choice is
recorded in ``meta["series_choice"]`` and ``meta["n_series_skipped"]`` (decode
writes the count and the dropped files into ``cases.csv``); series of several
studies in one folder are an error, never a silent choice. Pixel data is read
only for the series chosen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liverlib.errors import (
    CorruptDicomError,
    DuplicateSliceError,
    EmptyStudyError,
    GantryTiltError,
    MixedStudiesError,
    NoPixelDataError,
    NotCTError,
    NotDicomError,
    OrientationError,
    SliceGapError,
    StudyError,
    UnevenSpacingError,
    UnsupportedImageError,
    UnsupportedTransferSyntaxError,
)

log = logging.getLogger(__name__)

# A gap is a step this much larger than the typical (median) step.
GAP_TOLERANCE = 1.5
# A slice may lie this far (mm, or this fraction of the step, whichever is larger) off the
# evenly spaced line through its series' positions before the series counts as unevenly
# spaced: scanners round positions to 0.01 mm or so; a 0.625 mm series rounded to 0.1 mm
# steps 0.6 and 0.7 and stays within 0.05 mm of the line.
UNEVEN_TOL_MM = 0.1
UNEVEN_TOL_FRACTION = 0.02
# Positions agree when closer than this (mm); orientations when cosines differ less.
POSITION_TOL_MM = 0.01
ORIENTATION_TOL = 1e-3
# Slice positions may stray this far (degrees) from the slice normal before we
# call it gantry tilt: scanners round positions to 0.01 mm.
TILT_TOL_DEG = 0.5
# Pixel data (and any element this large) is read when first used, not while a folder
# is parsed and grouped: the series not chosen never load their pixels.
DEFER_BYTES = "64 KB"
# Hidden files and obvious non-DICOM companions are not worth parsing.
SKIP_SUFFIXES = {".txt", ".md", ".csv", ".json", ".xml", ".nii", ".gz", ".png", ".jpg", ".zip"}


@dataclass
class SeriesGeometry:
    """Where the sorted slices of one series lie in patient space (LPS, mm)."""

    row_dir: np.ndarray  # direction of increasing column index
    col_dir: np.ndarray  # direction of increasing row index
    normal: np.ndarray
    first_position: np.ndarray
    spacing: tuple[float, float, float]  # (slice step, row spacing, column spacing)
    positions: np.ndarray = field(repr=False)


def list_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` (nested too) that may be DICOM."""
    files = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix.lower() in SKIP_SUFFIXES or path.name.upper() == "DICOMDIR":
            continue
        files.append(path)
    return files


def read_dataset(path: Path):
    """Parse one file; raise NotDicomError / CorruptDicomError with the reason."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, defer_size=DEFER_BYTES)
    except InvalidDicomError as exc:
        ds = _read_without_preamble(path)
        if ds is None:
            raise NotDicomError(path, f"not a DICOM file ({exc})") from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CorruptDicomError(path, f"header truncated or damaged ({exc})") from None
    frames = _frames(path, ds)
    if "PixelData" in ds and frames > 1:
        sop = ds.get("SOPClassUID")
        raise UnsupportedImageError(
            path, f"a multi-frame object ({getattr(sop, 'name', None) or 'unknown SOP class'}, {frames} frames): "
            "liverlib reads one slice per file; convert to single-frame files (dcm4che emf2sf) or to NIfTI (dcm2niix)",
        )
    if "PixelData" not in ds:
        # pydicom parses a file cut short without complaint: an image object
        # (by its SOP class) that has no pixel data was truncated.
        sop = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
        if sop is not None and "Image Storage" in getattr(sop, "name", ""):
            size = path.stat().st_size
            raise CorruptDicomError(path, f"header truncated: {sop.name} object ends after {size} bytes, before its pixel data")
    else:
        # pydicom reads a short PixelData element without complaint; check here.
        syntax = ds.file_meta.get("TransferSyntaxUID")
        if syntax is not None and not syntax.is_compressed:
            expected = _expected_pixel_bytes(ds, frames)
            got = _stored_pixel_bytes(path, ds)
            if expected and got < expected:
                raise CorruptDicomError(path, f"pixel data truncated ({got} of {expected} bytes)")
    return ds


def _stored_pixel_bytes(path: Path, ds) -> int:
    """Bytes of pixel data the file holds, without reading a deferred element."""
    elem = ds.get_item("PixelData", keep_deferred=True)
    if getattr(elem, "value", None) is not None:
        return len(elem.value)
    # deferred (not read yet): the file must reach past the element's declared length
    return max(0, min(int(elem.length), path.stat().st_size - int(elem.value_tell)))


def _read_without_preamble(path: Path):
    """A DICOM data set stored without the 128-byte preamble and file meta (older archives), or None.

    pydicom refuses such raw streams unless forced; forced, it parses almost anything, so the
    result counts only when it holds an image: pixel data and a SOP class.
    """
    import pydicom
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    try:
        ds = pydicom.dcmread(path, force=True, defer_size=DEFER_BYTES)
        if "PixelData" not in ds or "SOPClassUID" not in ds:
            return None
    except Exception:  # noqa: BLE001 - forced parsing of a non-DICOM file may fail any way
        return None
    if "TransferSyntaxUID" not in ds.file_meta:  # pixel decoding needs it: the encoding it was read in
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        )
    return ds


def _frames(path: Path, ds) -> int:
    """NumberOfFrames (1 when absent), or a CorruptDicomError naming the file."""
    value = ds.get("NumberOfFrames")
    if value in (None, ""):
        return 1
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CorruptDicomError(path, f"NumberOfFrames {value!r} is not a whole number") from None


def _expected_pixel_bytes(ds, frames: int) -> int:
    try:
        return ds.Rows * ds.Columns * ds.get("SamplesPerPixel", 1) * ds.BitsAllocated // 8 * frames
    except (AttributeError, TypeError):
        return 0


def is_localizer(ds) -> bool:
    image_type = [str(t).upper() for t in ds.get("ImageType", [])]
    return "LOCALIZER" in image_type or "SCOUT" in image_type or "TOPOGRAM" in image_type


def group_series(folder: Path, *, require_ct: bool = True) -> tuple[dict[str, list], dict]:
    """Parse every file and group the image objects by SeriesInstanceUID.

    Args:
        folder: Folder to search (recursively).
        require_ct: Keep only CT series (masks of 3D-IRCADb pass False).

    Returns:
        ``(series, report)``: series UID -> list of ``(path, dataset)``, and
        counts of what was dropped and why.
    """
    folder = Path(folder)
    files = list_files(folder)
    if not files:
        raise EmptyStudyError(folder, "no files found")
    series: dict[str, list] = {}
    report = {"not_dicom": 0, "no_pixel_data": 0, "localizer": 0, "duplicate_copy": 0, "multi_frame": 0,
              "other_modality": {}}
    seen: set[tuple] = set()
    first_error: StudyError | None = None
    for path in files:
        try:
            ds = read_dataset(path)
        except NotDicomError as exc:
            report["not_dicom"] += 1
            first_error = first_error or exc
            continue
        except UnsupportedImageError as exc:  # a cine clip or an Enhanced CT beside the series: skip it
            report["multi_frame"] += 1
            first_error = exc if not isinstance(first_error, UnsupportedImageError) else first_error
            continue
        if "PixelData" not in ds:
            report["no_pixel_data"] += 1
            first_error = first_error or NoPixelDataError(path, "no pixel data (not an image object)")
            continue
        if is_localizer(ds):
            report["localizer"] += 1
            continue
        modality = str(ds.get("Modality", ""))
        if require_ct and modality != "CT":
            report["other_modality"][modality] = report["other_modality"].get(modality, 0) + 1
            if not isinstance(first_error, NotCTError):
                first_error = NotCTError(path, f"modality is {modality or 'missing'}, not CT")
            continue
        # Study and series UID: a series UID reused across studies (an anonymiser's) stays apart.
        uid = f'{ds.get("StudyInstanceUID", "")}/{ds.get("SeriesInstanceUID", "")}'
        key = (uid, str(ds.get("SOPInstanceUID", "")), str(ds.get("ImagePositionPatient", "")))
        if key[1] and key in seen:  # the same image twice (a copied file): keep one
            report["duplicate_copy"] += 1
            continue
        seen.add(key)
        series.setdefault(uid, []).append((path, ds))
    if not series:
        if len(files) == 1 and first_error is not None:
            raise first_error
        if isinstance(first_error, (NotCTError, UnsupportedImageError)):
            raise first_error
        raise EmptyStudyError(folder, f"no CT image series among {len(files)} files ({describe_dropped(report)})")
    return series, report


def describe_dropped(report: dict) -> str:
    """``{"localizer": 2, "other_modality": {"SR": 1}}`` as ``2 localizer, 1 SR``."""
    parts = [f"{v} {k.replace('_', ' ')}" for k, v in report.items() if isinstance(v, int) and v]
    parts += [f"{v} {m or 'unknown'}" for m, v in report.get("other_modality", {}).items()]
    return ", ".join(parts) or "nothing usable"


#: A series may lose at most this many slices (and this share of them) whose orientation differs from
#: all the others': scouts some scanners store in the axial series without LOCALIZER in ImageType.
ODD_ORIENTATION_MAX = 3
ODD_ORIENTATION_SHARE = 0.05


def drop_odd_orientations(items: list) -> tuple[list, int]:
    """The slices of a series without the few whose ImageOrientationPatient differs from the rest's.

    A scout stored in the axial series (ImageType without LOCALIZER) would otherwise refuse the
    whole study. More than ``ODD_ORIENTATION_MAX`` slices (or ``ODD_ORIENTATION_SHARE`` of them)
    off the common orientation stay, and :func:`series_geometry` refuses the series.

    Returns:
        ``(items, number dropped)``.
    """
    try:
        vectors = np.array([_numbers(path, ds, "ImageOrientationPatient", 6) for path, ds in items])
    except StudyError:
        return items, 0  # malformed: series_geometry names the file
    # The series' orientation is the componentwise median (the odd few cannot move it); a slice
    # belongs within series_geometry's tolerance of it, so float noise never counts as odd.
    members = np.all(np.abs(vectors - np.median(vectors, axis=0)) <= ORIENTATION_TOL, axis=1)
    odd = len(items) - int(members.sum())
    if odd == 0 or odd > ODD_ORIENTATION_MAX or odd > ODD_ORIENTATION_SHARE * len(items):
        return items, 0
    return [item for item, keep in zip(items, members) if keep], odd


def _series_rank(group: list) -> tuple:
    ds = group[0][1]
    try:
        number = int(ds.get("SeriesNumber") or 0)
    except (TypeError, ValueError):
        number = 0
    return -len(group), number, str(ds.get("SeriesInstanceUID", ""))


def series_geometry(items: list) -> tuple[list, SeriesGeometry]:
    """Sort slices along the normal and check orientation, spacing and tilt.

    Args:
        items: ``(path, dataset)`` pairs of one series.

    Returns:
        The pairs in increasing position along the slice normal, and their
        geometry. Raises OrientationError, DuplicateSliceError, SliceGapError
        or GantryTiltError naming the file at fault.
    """
    path0, ds0 = items[0]
    iop0 = _numbers(path0, ds0, "ImageOrientationPatient", 6)
    spacing0 = _numbers(path0, ds0, "PixelSpacing", 2)
    positions = []
    for path, ds in items:
        iop = _numbers(path, ds, "ImageOrientationPatient", 6)
        if not np.allclose(iop, iop0, atol=ORIENTATION_TOL):
            raise OrientationError(
                path, f"orientation {np.round(iop, 4).tolist()} differs from {np.round(iop0, 4).tolist()} in {path0.name}"
            )
        if (ds.Rows, ds.Columns) != (ds0.Rows, ds0.Columns):
            raise OrientationError(path, f"matrix {ds.Rows}x{ds.Columns} differs from {ds0.Rows}x{ds0.Columns}")
        spacing = _numbers(path, ds, "PixelSpacing", 2)
        if not np.allclose(spacing, spacing0, atol=POSITION_TOL_MM):
            raise OrientationError(path, f"pixel spacing {spacing.tolist()} mm differs from {spacing0.tolist()} in {path0.name}")
        positions.append(_numbers(path, ds, "ImagePositionPatient", 3))
    row_dir, col_dir = iop0[:3], iop0[3:]
    normal = np.cross(row_dir, col_dir)
    positions = np.array(positions)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    items = [items[i] for i in order]
    positions, along = positions[order], along[order]
    row_spacing, col_spacing = (float(v) for v in spacing0)

    if len(items) == 1:
        step = float(ds0.get("SpacingBetweenSlices", 0) or ds0.get("SliceThickness", 1.0) or 1.0)
    else:
        steps = np.diff(along)
        for i, s in enumerate(steps):
            if s < POSITION_TOL_MM:
                a, b = items[i][0], items[i + 1][0]
                if items[i][1].get("SOPInstanceUID") == items[i + 1][1].get("SOPInstanceUID"):
                    raise DuplicateSliceError(b, f"same SOPInstanceUID as {a.name} (file copied twice)")
                raise DuplicateSliceError(b, f"same slice position ({along[i]:.2f} mm) as {a.name}")
        step = float(np.median(steps))
        worst = int(np.argmax(steps))
        if steps[worst] > GAP_TOLERANCE * step:
            raise SliceGapError(
                items[worst + 1][0],
                f"slice gap of {steps[worst]:.2f} mm after {items[worst][0].name} where the spacing is "
                f"{step:.2f} mm ({int(round(steps[worst] / step)) - 1} slice(s) missing?)",
            )
        # Each slice against the evenly spaced line through all of them: rounding of positions
        # (a 0.625 mm series stored to 0.1 mm) stays within half a rounding step of it, a series
        # of two spacings or an extra slice does not.
        index = np.arange(len(along))
        fit = np.polyval(np.polyfit(index, along, 1), index)
        off = np.abs(along - fit)
        tolerance = max(UNEVEN_TOL_MM, UNEVEN_TOL_FRACTION * step)
        if off.max() > tolerance:
            i = int(np.argmax(off))
            raise UnevenSpacingError(
                items[i][0],
                f"slice lies {off[i]:.2f} mm off the even spacing of its series ({step:.3f} mm median step; steps "
                f"from {steps.min():.3f} to {steps.max():.3f} mm; {int((off > tolerance).sum())} slices off by more "
                f"than {tolerance:.2f} mm): not resampled; read each part as its own series, or resample to one "
                "spacing first (dcm2niix writes such series as an equalized '_Eq' volume)",
            )
        travel = positions[-1] - positions[0]
        cos = abs(float(travel @ normal)) / float(np.linalg.norm(travel))
        tilt = float(np.degrees(np.arccos(min(1.0, cos))))
        if tilt > TILT_TOL_DEG:
            raise GantryTiltError(
                items[0][0],
                f"slices step {tilt:.1f} degrees off the slice normal (gantry tilt or shear); "
                "not resampled: reconstruct without tilt, or resample with dcm2niix first",
            )
        step = float((along[-1] - along[0]) / (len(items) - 1))
    geometry = SeriesGeometry(
        row_dir=row_dir,
        col_dir=col_dir,
        normal=normal,
        first_position=positions[0],
        spacing=(step, row_spacing, col_spacing),
        positions=positions,
    )
    return items, geometry


def _numbers(path: Path, ds, keyword: str, n: int) -> np.ndarray:
    """A multi-valued numeric tag (ImagePositionPatient...) as n floats, or an error naming the file."""
    if keyword not in ds:
        raise OrientationError(path, f"no {keyword}; cannot place the slice")
    raw = ds[keyword].value
    if raw is None or isinstance(raw, (str, bytes, int, float)):
        raw = [] if raw in (None, "", b"") else [raw]  # one value where several belong
    try:
        values = np.array([float(v) for v in raw], dtype=float)
    except (TypeError, ValueError) as exc:
        raise CorruptDicomError(path, f"{keyword} is not numeric ({exc})") from None
    if values.shape != (n,) or not np.isfinite(values).all():
        raise CorruptDicomError(path, f"{keyword} has {values.size} values {values.tolist()}; {n} expected")
    return values


def decode_pixels(items: list, dtype=None, *, rescale: bool = True) -> np.ndarray:
    """Stack the pixel data of sorted slices into (k, rows, cols) rescaled values.

    Uses stored int16 plus the intercept when the rescale is integral (the
    usual CT case, exact and half the memory), float32 otherwise, and pydicom's
    modality LUT when a Modality LUT Sequence is present. Stored values may be
    unsigned (PixelRepresentation 0, as many scanners write CT: 0-4095 with
    intercept -1024 gives -1024 to 3071 HU).

    Args:
        items: Sorted ``(path, dataset)`` pairs of one series.
        dtype: Output dtype; default int16 or float32 as above.
        rescale: False keeps the stored values (masks: 3D-IRCADb's 0/255 are
            labels, not HU, whatever intercept their headers carry).
    """
    from pydicom.pixels import apply_modality_lut

    _, ds0 = items[0]
    # Without rescaling every slice counts as slope 1, intercept 0: the stored values, in int16.
    rescales = [_rescale(path, ds) if rescale else (1.0, 0.0) for path, ds in items]
    has_lut = rescale and any("ModalityLUTSequence" in ds for _, ds in items)
    integral = not has_lut and all(s == 1.0 and i.is_integer() for s, i in rescales)
    out = np.empty((len(items), ds0.Rows, ds0.Columns), dtype=dtype or (np.int16 if integral else np.float32))
    for k, (path, ds) in enumerate(items):
        pixels = pixel_array(path, ds)
        # The encoded bytes are no longer needed: free them as we go.
        del ds.PixelData
        slope, intercept = rescales[k]
        if has_lut:
            out[k] = apply_modality_lut(pixels, ds)
        elif out.dtype == np.int16:
            if int(pixels.min()) + intercept < -32768 or int(pixels.max()) + intercept > 32767:
                out = out.astype(np.float32)  # rare: HU beyond int16 after the intercept
                out[k] = pixels.astype(np.float32) + intercept
            else:
                # int32 first: unsigned stored values plus a negative intercept overflow uint16
                out[k] = pixels.astype(np.int32) + int(intercept)
        else:
            out[k] = pixels.astype(np.float32) * slope + intercept
    return out


def _rescale(path: Path, ds) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept) of one slice; absent tags mean (1, 0)."""
    try:
        return float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    except (TypeError, ValueError) as exc:
        raise CorruptDicomError(path, f"RescaleSlope/RescaleIntercept unreadable ({exc})") from None


def pixel_array(path: Path, ds) -> np.ndarray:
    """``ds.pixel_array`` with typed errors for missing decoders and bad data."""
    from pydicom.pixels import pixel_array as decode

    try:
        # pydicom.pixels.pixel_array does not cache the array on the dataset.
        arr = decode(ds)
    except (NotImplementedError, RuntimeError) as exc:
        syntax = ds.file_meta.get("TransferSyntaxUID")
        name = getattr(syntax, "name", str(syntax))
        if syntax is not None and syntax.is_compressed:
            raise UnsupportedTransferSyntaxError(
                path, f"no installed decoder for transfer syntax {name} ({syntax}); "
                "install the pylibjpeg plugins or convert with dcmdjpeg/gdcmconv"
            ) from None
        raise CorruptDicomError(path, f"pixel data could not be decoded ({exc})") from None
    except (ValueError, AttributeError, KeyError, TypeError) as exc:
        raise CorruptDicomError(path, f"pixel data could not be decoded ({exc})") from None
    if arr.ndim != 2:
        raise CorruptDicomError(path, f"expected one grey 2D frame, got pixel array of shape {arr.shape}")
    return arr


def to_canonical(stack: np.ndarray, geom: SeriesGeometry, where: Path) -> tuple[np.ndarray, tuple, tuple, np.ndarray]:
    """Reorient a (k, row, col) stack to (z, y, x) LPS by its nearest axes.

    Args:
        stack: Pixel stack, k along the slice normal, rows along ``col_dir``,
            columns along ``row_dir``.
        geom: Geometry from :func:`series_geometry`.
        where: Path for error messages.

    Returns:
        ``(array, spacing, origin, direction)`` in the Volume convention.
    """
    # Array axis a (0=k, 1=row, 2=col) runs along vector vecs[a] in LPS.
    vecs = [geom.normal, geom.col_dir, geom.row_dir]
    steps = [geom.spacing[0], geom.spacing[1], geom.spacing[2]]
    lps_axis = [int(np.argmax(np.abs(v))) for v in vecs]
    if sorted(lps_axis) != [0, 1, 2]:
        raise OrientationError(where, "oblique orientation: image axes do not map onto distinct patient axes")
    # canonical axis 0 is z (LPS 2), 1 is y (LPS 1), 2 is x (LPS 0)
    perm = [lps_axis.index(2), lps_axis.index(1), lps_axis.index(0)]
    array = np.transpose(stack, perm)
    origin = geom.first_position.astype(float).copy()
    direction = np.zeros((3, 3))
    spacing = []
    for canon, a in enumerate(perm):
        v = np.asarray(vecs[a], dtype=float)
        n = stack.shape[a]
        if v[lps_axis[a]] < 0:  # runs against the LPS axis: flip
            array = np.flip(array, axis=canon)
            origin = origin + v * steps[a] * (n - 1)
            v = -v
        direction[:, 2 - canon] = v / np.linalg.norm(v)
        spacing.append(float(steps[a]))
    return np.ascontiguousarray(array), tuple(spacing), tuple(origin), direction


def read_dicom_series(folder: str | Path, *, require_ct: bool = True, rescale: bool = True):
    """Read the CT series of a folder into a canonical array with geometry.

    Args:
        folder: A folder with DICOM files (any names, nested folders).
        require_ct: Only CT series qualify (mask series pass False).
        rescale: False returns the stored values (mask series: their values are labels).

    Returns:
        ``(hu, spacing, origin, direction, info)`` with ``hu`` (z, y, x) in HU,
        e.g. about -1000 in air and 40-60 in muscle; ``info`` is technical
        metadata without PHI plus ``series_choice`` and ``dropped`` counts.
    """
    from liverlib.contrast_phase import contrast_phase
    from liverlib.deid import technical_meta

    folder = Path(folder)
    if folder.is_file():
        items = [(folder, read_dataset(folder))]
        ds = items[0][1]
        if "PixelData" not in ds:
            raise NoPixelDataError(folder, "no pixel data (not an image object)")
        if require_ct and str(ds.get("Modality", "")) != "CT":
            raise NotCTError(folder, f"modality is {ds.get('Modality') or 'missing'}, not CT")
        groups, report = {str(ds.get("SeriesInstanceUID", "")): items}, {}
    else:
        groups, report = group_series(folder, require_ct=require_ct)
    studies = {str(ds.get("StudyInstanceUID", "")) for group in groups.values() for _, ds in group[:1]}
    if len(studies) > 1:
        raise MixedStudiesError(
            folder, f"holds {len(studies)} studies (by StudyInstanceUID; {len(groups)} CT series), perhaps of "
            "different patients: give each study its own folder (a CD export's DICOMDIR layout: one folder per "
            "ST* folder) rather than read one of them",
        )
    # The most slices first; between equal counts (an arterial and a portal venous series)
    # the lower SeriesNumber, then the UID: the same choice whatever the files' order.
    ranked = sorted(groups.values(), key=_series_rank)
    items = ranked[0]
    choice = "single series"
    if len(ranked) > 1:
        choice = (
            f"read the largest of {len(ranked)} series ({len(items)} slices, SeriesNumber "
            f"{items[0][1].get('SeriesNumber', '?')}); skipped series of "
            f"{', '.join(str(len(r)) for r in ranked[1:])} slices"
        )
        log.debug("%s: %s", folder, choice)  # debug: a folder name can be a patient's name
    items, odd = drop_odd_orientations(items)
    if odd:
        report = {**report, "odd_orientation": odd}
    items, geom = series_geometry(items)
    stack = decode_pixels(items, rescale=rescale)
    hu, spacing, origin, direction = to_canonical(stack, geom, items[0][0])
    info = technical_meta(items[0][1])
    info.update(
        contrast_phase=contrast_phase(items[0][1]),
        n_files=len(items),
        series_choice=choice,
        n_series_skipped=len(ranked) - 1,
        dropped={k: v for k, v in report.items() if v},
        transfer_syntax=str(items[0][1].file_meta.get("TransferSyntaxUID", "")),
    )
    uids = (str(items[0][1].get("StudyInstanceUID", "")), str(items[0][1].get("SeriesInstanceUID", "")))
    info["_uids"] = uids  # used for the pseudonym, removed before anything is written
    return hu, spacing, origin, direction, info
