"""Resolution-independent building blocks: the grid, smooth noise, implicit shapes.

All phantom anatomy is defined in a *body frame* in millimetres: ``X`` runs
from the patient's right to left (LPS x), ``Y`` anterior to posterior (LPS y),
``Z`` inferior to superior, with ``X = Y = 0`` at the centre of the body
outline and ``Z = 0`` at the top of the right diaphragm dome. Shapes are
implicit functions of these coordinates, so a 256 and a 512 matrix of the same
seed show the same patient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Smooth-noise lattices are anchored on this fixed body-frame box (mm), so a
#: field's values at a point do not depend on the grid that samples it.
NOISE_HALF_EXTENT = 420.0


@dataclass
class Grid:
    """Voxel centres in body-frame mm; each axis ascending (z, y, x order).

    Args:
        z: 1D slice positions, inferior to superior, e.g. ``-240 ... +35``.
        y: 1D row positions, anterior to posterior.
        x: 1D column positions, patient right to left.
    """

    z: np.ndarray
    y: np.ndarray
    x: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.z.size, self.y.size, self.x.size)

    def full(self):
        """Broadcastable (Z, Y, X) coordinates of the whole grid."""
        return self.z[:, None, None], self.y[None, :, None], self.x[None, None, :]

    def box(self, lo, hi):
        """Index slices and broadcastable coordinates of a (z, y, x) mm box.

        Args:
            lo: Lower corner ``(z, y, x)`` in mm.
            hi: Upper corner ``(z, y, x)`` in mm.

        Returns:
            ``(slices, Z, Y, X)``; ``slices`` indexes the full arrays. A box
            outside the grid gives empty slices.
        """
        sl = []
        for axis, a, b in zip((self.z, self.y, self.x), lo, hi, strict=True):
            i0 = int(np.searchsorted(axis, a, "left"))
            i1 = int(np.searchsorted(axis, b, "right"))
            sl.append(slice(i0, max(i0, i1)))
        sl = tuple(sl)
        return sl, self.z[sl[0]][:, None, None], self.y[sl[1]][None, :, None], self.x[sl[2]][None, None, :]


def _axis_weights(coords: np.ndarray, step: float) -> tuple[np.ndarray, slice]:
    """Gaussian weights from a fixed lattice (spacing ``step`` mm) to ``coords``."""
    lattice = np.arange(-NOISE_HALF_EXTENT, NOISE_HALF_EXTENT + step, step)
    lo = int(np.searchsorted(lattice, coords.min() - 3 * step))
    hi = int(np.searchsorted(lattice, coords.max() + 3 * step)) + 1
    nodes = lattice[lo:hi]
    width = 0.7 * step  # wide enough that the field has no lattice ripple
    w = np.exp(-0.5 * ((coords[:, None] - nodes[None, :]) / width) ** 2)
    # Sum of squared weights ~ width*sqrt(pi)/step: normalise to unit variance.
    w /= np.sqrt(width * np.sqrt(np.pi) / step)
    return w.astype(np.float32), slice(lo, hi)


def smooth_noise(seed: int, z: np.ndarray, y: np.ndarray, x: np.ndarray, corr_mm: float) -> np.ndarray:
    """A unit-variance Gaussian random field with correlation length ``corr_mm``.

    White noise on a lattice anchored in the body frame is convolved with a
    Gaussian, separably, so the value at a point depends only on ``seed``,
    ``corr_mm`` and the point, never on the sampling grid.

    Args:
        seed: Seed of this field (fields with different seeds are independent).
        z, y, x: 1D mm coordinates to sample (ascending).
        corr_mm: Lattice spacing, e.g. 40 mm for organ-scale deformation.

    Returns:
        float32 array ``(z.size, y.size, x.size)``, mean 0 and SD about 1.
    """
    n = int(2 * NOISE_HALF_EXTENT / corr_mm) + 2
    white = np.random.default_rng(seed).standard_normal((n, n, n), dtype=np.float32)
    wz, sz = _axis_weights(np.asarray(z, np.float64), corr_mm)
    wy, sy = _axis_weights(np.asarray(y, np.float64), corr_mm)
    wx, sx = _axis_weights(np.asarray(x, np.float64), corr_mm)
    field = white[sz, sy, sx]
    field = np.tensordot(wz, field, axes=(1, 0))
    field = np.tensordot(field, wy, axes=(1, 1)).transpose(0, 2, 1)
    return np.tensordot(field, wx, axes=(2, 1))


def box_noise(seed: int, Z, Y, X, corr_mm: float) -> np.ndarray:
    """``smooth_noise`` on broadcastable box coordinates (from ``Grid.box``)."""
    return smooth_noise(seed, Z.ravel(), Y.ravel(), X.ravel(), corr_mm)


def ellipsoid(Z, Y, X, center, semi, yaw_deg: float = 0.0, pitch_deg: float = 0.0):
    """Normalised quadratic form of a rotated ellipsoid: < 1 inside, 1 on the surface.

    Args:
        Z, Y, X: Broadcastable mm coordinates.
        center: ``(z, y, x)`` centre in mm.
        semi: ``(sz, sy, sx)`` semi-axes in mm.
        yaw_deg: Rotation in the axial (x-y) plane.
        pitch_deg: Tilt of the z axis toward +y (anterior-posterior tilt).
    """
    dz, dy, dx = Z - center[0], Y - center[1], X - center[2]
    if yaw_deg:
        c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    if pitch_deg:
        c, s = np.cos(np.radians(pitch_deg)), np.sin(np.radians(pitch_deg))
        dz, dy = c * dz + s * dy, -s * dz + c * dy
    return (dz / semi[0]) ** 2 + (dy / semi[1]) ** 2 + (dx / semi[2]) ** 2


def softmin(a, b, k: float = 0.15):
    """Smooth minimum (a smooth union of two implicit shapes), ``k`` the blend width."""
    m = np.minimum(a, b)
    return m - k * np.log1p(np.exp(-np.abs(a - b) / k))


def capsule(grid: Grid, p0, p1, r0: float, r1: float):
    """A tapered tube from ``p0`` to ``p1`` (``(z, y, x)`` mm), radii ``r0`` -> ``r1``.

    Returns:
        ``(slices, inside)``: the box slices and a boolean mask within them.
    """
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    r = max(r0, r1)
    lo, hi = np.minimum(p0, p1) - r, np.maximum(p0, p1) + r
    sl, Z, Y, X = grid.box(lo, hi)
    v = p1 - p0
    vv = max(float(v @ v), 1e-9)
    t = np.clip(((Z - p0[0]) * v[0] + (Y - p0[1]) * v[1] + (X - p0[2]) * v[2]) / vv, 0.0, 1.0)
    d2 = (Z - p0[0] - t * v[0]) ** 2 + (Y - p0[1] - t * v[1]) ** 2 + (X - p0[2] - t * v[2]) ** 2
    return sl, d2 <= (r0 + (r1 - r0) * t) ** 2
