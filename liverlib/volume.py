"""The ``Volume``: one decoded CT study in canonical LPS order.

Every loader returns a ``Volume`` and every later step reads one, so the
conventions live here:

* ``hu[k, j, i]`` is indexed ``(z, y, x)``: ``z`` runs inferior to superior,
  ``y`` anterior to posterior, ``x`` patient right to left (DICOM LPS axes).
  ``hu[k]`` is therefore an axial slice in radiological display (patient right
  on the image's left, anterior up); coronal is ``hu[::-1, j, :]`` and
  sagittal ``hu[::-1, :, i]``.
* ``spacing`` is ``(dz, dy, dx)`` in millimetres.
* ``label`` is uint8 with 0 background, 1 liver, 2 tumor, or ``None``.
* ``origin`` is the LPS position (x, y, z, mm) of the centre of voxel
  ``hu[0, 0, 0]`` and ``direction`` the 3x3 matrix whose columns are the LPS
  unit vectors of increasing ``i``, ``j``, ``k``. They are identity-aligned
  for axial studies; a rotated but orthogonal acquisition keeps its small
  rotation here so a prediction can be written back onto the original grid.
* ``case_id`` is a pseudonym, never a patient identifier, and ``meta`` holds
  technical facts only (layout, slice count, kernel...), never PHI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Label values shared by every module.
BACKGROUND, LIVER, TUMOR = 0, 1, 2

#: Maps LPS patient coordinates to RAS (the NIfTI world convention) and back.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass
class Volume:
    """One CT study, in Hounsfield units, in canonical (z, y, x) LPS order.

    Args:
        hu: CT numbers, shape ``(z, y, x)``, int16 or float32. Air is about
            -1000 HU, fat -100, water 0, enhanced liver 100-130, bone 300+.
        spacing: Voxel size ``(dz, dy, dx)`` in mm, e.g. ``(2.5, 0.78, 0.78)``.
        case_id: Pseudonym for the study (a keyed hash or a user-given name).
        label: Optional uint8 ``(z, y, x)`` with 0 background, 1 liver, 2 tumor.
        origin: LPS position in mm of the centre of voxel ``[0, 0, 0]``.
        direction: 3x3, columns are the LPS directions of the x, y, z indices.
        meta: Technical description without PHI.
        cyst: Optional boolean ``(z, y, x)`` mask of the benign cysts the
            source marks apart (3D-IRCADb's ``liverkyst`` masks, the phantoms'
            simple cysts): liver (label 1) in ``label``, kept so that an
            evaluation can count the cysts a model calls tumor. None when the
            source marks none.
    """

    hu: np.ndarray
    spacing: tuple[float, float, float]
    case_id: str
    label: np.ndarray | None = None
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    meta: dict = field(default_factory=dict)
    cyst: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.hu.ndim != 3:
            raise ValueError(f"hu must be 3D (z, y, x), got shape {self.hu.shape}")
        self.spacing = tuple(float(s) for s in self.spacing)
        self.origin = tuple(float(o) for o in self.origin)
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if self.label is not None and self.label.shape != self.hu.shape:
            raise ValueError(
                f"label shape {self.label.shape} differs from image shape {self.hu.shape}"
            )
        if self.cyst is not None and self.cyst.shape != self.hu.shape:
            raise ValueError(f"cyst mask shape {self.cyst.shape} differs from image shape {self.hu.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.hu.shape)

    @property
    def voxel_ml(self) -> float:
        """Volume of one voxel in millilitres (1 mL = 1000 mm^3)."""
        dz, dy, dx = self.spacing
        return dz * dy * dx / 1000.0

    def affine_lps(self) -> np.ndarray:
        """4x4 matrix mapping ``(i, j, k, 1)`` = ``(x, y, z)`` indices to LPS mm."""
        dz, dy, dx = self.spacing
        affine = np.eye(4)
        affine[:3, :3] = self.direction @ np.diag([dx, dy, dz])
        affine[:3, 3] = self.origin
        return affine

    def affine_ras(self) -> np.ndarray:
        """The NIfTI affine for ``hu.transpose(2, 1, 0)`` (array axes i, j, k)."""
        affine = self.affine_lps()
        affine[:3, :] = LPS_TO_RAS @ affine[:3, :]
        return affine
