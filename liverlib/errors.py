"""Typed errors for bad input.

Every error names the file (or folder) it is about and the reason, so that a
cohort report reads like ``CorruptDicomError: data/raw/x/IM0007: pixel data
truncated (31906 of 32768 bytes)``.
"""

from __future__ import annotations

from pathlib import Path


class StudyError(Exception):
    """A study (file or folder) that cannot be decoded.

    Args:
        path: The file or folder at fault.
        reason: What is wrong with it, in words a radiologist can act on.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NotDicomError(StudyError):
    """The file is not a DICOM file (no DICM preamble, not parseable)."""


class CorruptDicomError(StudyError):
    """A DICOM file whose header or pixel data is truncated or damaged."""


class NoPixelDataError(StudyError):
    """A DICOM object without an image (a report, a structure set...)."""


class NotCTError(StudyError):
    """The image series is not CT (Modality is MR, CR, PT...)."""


class EmptyStudyError(StudyError):
    """A folder without any image that could be decoded."""


class SliceGapError(StudyError):
    """Slices are missing: a gap larger than the slice spacing."""


class UnevenSpacingError(SliceGapError):
    """Slice steps that differ along one series (two reconstruction parts, an extra slice)."""


class DuplicateSliceError(StudyError):
    """Two different slices share one position."""


class MixedStudiesError(StudyError):
    """One folder holds the series of several studies (perhaps of several patients)."""


class OrientationError(StudyError):
    """Slices of one series disagree on orientation, or the geometry is oblique/tilted."""


class GantryTiltError(OrientationError):
    """Slice positions are not along the slice normal (gantry tilt or shear)."""


class UnsupportedTransferSyntaxError(StudyError):
    """Compressed pixel data for which no decoder plugin is installed."""


class UnsupportedImageError(StudyError):
    """A valid object liverlib does not read (Enhanced multi-frame CT, a 4D NIfTI...)."""


class CorruptImageError(StudyError):
    """A NIfTI (or other non-DICOM image) file whose header or voxels are damaged."""


class GeometryMismatchError(StudyError):
    """A mask or label does not share the image's shape or geometry."""


class LabelValueError(StudyError):
    """A label volume holds values other than 0 (background), 1 (liver), 2 (tumor)."""


class UnknownLayoutError(StudyError):
    """A path that matches none of the layouts read_study knows."""


class DatasetError(StudyError):
    """A slice dataset or 2D image-folder dataset that breaks its contract."""


class UsageError(ValueError):
    """A command asked for what is not there: an unknown profile, parameter or step.

    The command line prints it as one line (``liverlib run: error: ...``), without a traceback.
    """
