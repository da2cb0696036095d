"""The body: outline and wall layers, spine and ribs, lung bases, heart, table.

Sizes (mm) are drawn per patient from adult ranges: abdominal width 270-380
mm, depth 200-280 mm, subcutaneous fat 8-45 mm, abdominal wall muscle 8-15 mm,
vertebral bodies about 40-48 mm wide with a 1.5-2.5 mm cortical rim, 24-30 mm
high with 6-9 mm discs, ribs about 10 mm thick every 30-40 mm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from liverlib.phantom import intensities as T
from liverlib.phantom.geometry import Grid, ellipsoid, smooth_noise
from liverlib.phantom.spine import paint_spine

#: Liver volume (mL) drawn for a body with the median cavity. Adult livers are about 1.2-1.6 L
#: (the LiTS cohort, with tumors, about 1.6 L); the phantoms' right upper quadrant, with the
#: kidney, vessels and stomach kept out, holds about this much in a median body, so the liver's
#: own shape, not the limits around it, sets its outline in about half the patients.
LIVER_ML_MEDIAN = 1200.0
#: Median cross-section ``a_in * b_in`` of the drawn bodies' visceral cavity, mm^2 (2,000 draws).
CAVITY_MM2_MEDIAN = 11200.0


@dataclass
class Body:
    """Per-patient body sizes in mm (body frame, see ``geometry``)."""

    a: float  # lateral semi-axis of the skin outline
    b: float  # anterior-posterior semi-axis
    fat_lat: float  # subcutaneous fat, lateral/anterior
    fat_post: float  # subcutaneous fat, posterior (flattened on the table)
    wall: float  # abdominal wall muscle thickness
    liver_span: float  # craniocaudal liver span
    liver_ml: float  # target liver volume
    left_dome: float  # how much lower the left dome is than the right
    vb_semi: tuple[float, float]  # vertebral body semi-axes (x, y)
    vb_period: float  # vertebra + disc height
    vb_phase: float  # where the first disc sits
    rib_pitch: float
    rib_drop: float  # ribs descend this much from back to front
    seed: int  # seed of this patient's smooth fields

    @property
    def a_in(self) -> float:
        """Lateral semi-axis of the visceral cavity (inside the muscle wall)."""
        return self.a - 2 - self.fat_lat - self.wall

    @property
    def b_in(self) -> float:
        return self.b - 2 - 0.5 * (self.fat_lat + self.fat_post) - self.wall

    @property
    def back(self) -> float:
        """Y of the back skin at the midline (the outline is flattened behind)."""
        return 0.89 * self.b

    @property
    def y_vb(self) -> float:
        """Y of the vertebral body centre: about 75-95 mm in front of the back skin."""
        return self.back - 0.5 * (self.fat_lat + self.fat_post) - 58 - self.vb_semi[1]

    @property
    def z_bottom(self) -> float:
        return -self.liver_span - 65.0

    @property
    def z_top(self) -> float:
        return 35.0


def draw_body(rng: np.random.Generator) -> Body:
    """Draw one patient's body sizes (the anatomy generator's first step).

    The liver's volume is tied to the body: it scales with the cross-section
    of the visceral cavity (``a_in * b_in``, median about 11,200 mm^2), as
    liver volume grows with body surface area in adults (Vauthey et al.,
    Liver Transpl 2002;8:233-240), times a log-normal individual factor
    (SD about 12 %). The draws run 0.90-1.65 L (5th to 95th percentile; 1.2 L
    median; clipped to 0.9-2.2 L, so 7 % of bodies draw exactly 0.9 L), so the liver is drawn
    for the room there is (``liver.paint_liver`` fills at most that room).
    """
    habitus = rng.uniform(0, 1)  # 0 slim ... 1 obese
    individual = float(rng.lognormal(0.0, 0.12))
    outline = Body(
        a=float(135 + 55 * habitus + rng.uniform(-8, 8)),
        b=float(100 + 40 * habitus + rng.uniform(-8, 8)),
        fat_lat=float(8 + 35 * habitus * rng.uniform(0.6, 1.0)),
        fat_post=float(6 + 15 * habitus),
        wall=float(rng.uniform(8, 15)),
        liver_span=0.0, liver_ml=0.0, left_dome=0.0, vb_semi=(0.0, 0.0), vb_period=0.0, vb_phase=0.0,
        rib_pitch=0.0, rib_drop=0.0, seed=0,
    )
    cavity = outline.a_in * outline.b_in
    ml = float(np.clip(LIVER_ML_MEDIAN * cavity / CAVITY_MM2_MEDIAN * individual, 900, 2200))
    return replace(
        outline,
        # The span (12-18 cm) grows with the volume (r about 0.5 in adults). Its pivot stayed at
        # 1.6 L when the drawn volumes fell to a 1.2 L median (2026-11-30), so spans are drawn
        # around 139 mm; the stomach, pancreas and the scan's lower end scale with this span.
        liver_span=float(np.clip(150 + 0.03 * (ml - 1600) + rng.normal(0, 9), 125, 175)),
        liver_ml=ml,
        left_dome=float(rng.uniform(8, 25)),
        vb_semi=(float(rng.uniform(20, 24)), float(rng.uniform(15, 18))),
        vb_period=float(rng.uniform(30, 36)),
        vb_phase=float(rng.uniform(0, 36)),
        rib_pitch=float(rng.uniform(30, 40)),
        rib_drop=float(rng.uniform(100, 140)),
        seed=int(rng.integers(2**31)),
    )


def dome_height(body: Body, Y, X):
    """Z of the diaphragm surface: right dome at 0, left lower, recesses deeper.

    The dome falls by about 70 mm toward the lateral wall and 90 mm toward the
    posterior costophrenic recess.
    """
    xr, xl = -0.42 * body.a_in, 0.42 * body.a_in
    fall_x = 75.0 / (0.6 * body.a_in) ** 2
    fall_y = 85.0 / body.b_in**2
    right = -fall_x * (X - xr) ** 2 - fall_y * Y**2 * np.where(Y > 0, 1.3, 0.8)
    left = -body.left_dome - fall_x * (X - xl) ** 2 - fall_y * Y**2 * np.where(Y > 0, 1.3, 0.8)
    centre = -body.left_dome - 12.0 - 0.002 * X**2  # central tendon under the heart
    return np.maximum(np.maximum(right, left), centre)


class _Outline:
    """Body outline family: round front, flatter back, for any semi-axes.

    The squared coordinates are computed once; each ``inside(a, b)`` is then
    a handful of array operations (the outline is tested for nine sizes).
    """

    def __init__(self, X, Y):
        self.x2 = X * X
        self.y2 = Y * Y
        self.back = np.where(Y > 0, np.float32(0.6), np.float32(0.0))

    def inside(self, a: float, b: float, box: tuple = (slice(None),) * 3) -> np.ndarray:
        """Voxels inside the outline with semi-axes ``a`` (x) and ``b`` (y) mm
        (within ``box``, index slices of the grid, when given)."""
        yn = self.y2[box] * np.float32(1.0 / b**2)
        return self.x2[box] * np.float32(1.0 / a**2) + yn * (1 + yn * self.back[box]) < 1


def paint_body(tissue: np.ndarray, grid: Grid, body: Body) -> dict:
    """Paint air, table, skin, fat, muscle wall, spine, ribs, lungs and heart.

    Returns:
        Helper masks for later steps: ``cavity`` (the free visceral space,
        bool) and ``dome`` (diaphragm height per (y, x) column... per voxel).
    """
    Z, Y, X = grid.full()
    # Wobble the outline by a few mm so no two bodies are perfect ellipses.
    wob = smooth_noise(body.seed + 1, grid.z, grid.y, grid.x, 80.0)
    s = 1.0 + 0.025 * wob + 0.03 * np.tanh((Z + 60) / 80)  # chest a bit wider
    Xs, Ys = X / s, Y / s
    b = body
    tissue[:] = T.AIR
    # CT table: carbon-fibre skins with foam between, under the back.
    tab = (Y > b.back - 3) & (Y < b.back + 16) & (np.abs(X) < 0.9 * b.a + 40) & (Z > -1e9)
    tissue[tab] = T.TABLE_FOAM
    tissue[tab & ((Y < b.back - 0.5) | (Y > b.back + 13.5))] = T.TABLE
    outline = _Outline(Xs, Ys)
    tissue[outline.inside(b.a, b.b)] = T.SKIN
    tissue[outline.inside(b.a - 2.5, b.b - 2.5)] = T.SUBCUT_FAT
    a_m, b_m = b.a - 2.5 - b.fat_lat, b.b - 2.5 - 0.5 * (b.fat_lat + b.fat_post)
    inner = outline.inside(a_m, b_m)
    tissue[inner] = T.MUSCLE
    cavity = outline.inside(a_m - b.wall, b_m - b.wall)
    tissue[cavity] = T.VISCERAL_FAT

    dome = dome_height(body, Y, X)
    # Lung bases above the diaphragm (4 mm muscle), mediastinum kept apart.
    chest = cavity & (Z > dome)
    tissue[chest] = T.MUSCLE
    # Mediastinum in front of the spine; paravertebral strip beside it.
    medi = (np.abs(X) < 35) & (Y > -0.6 * b.b_in) & (Y < b.y_vb - b.vb_semi[1])
    lung = cavity & (Z > dome + 4) & ~medi & ~((np.abs(X) < b.vb_semi[0] + 8) & (Y >= b.y_vb - b.vb_semi[1]))
    tissue[lung] = T.LUNG
    heart = ellipsoid(Z, Y, X, (40 - b.left_dome, -0.35 * b.b_in, 25), (50, 0.45 * b.b_in, 0.4 * b.a_in))
    tissue[(heart < 1) & chest & (Z > dome + 3)] = T.HEART
    cavity &= Z < dome
    paint_spine(tissue, grid, body, inner, outline, a_m, b_m)
    _paint_ribs(tissue, Z, Y, X, outline, a_m, b_m, body)
    cavity &= tissue == T.VISCERAL_FAT
    return {"cavity": cavity, "dome": dome}


def _paint_ribs(tissue, Z, Y, X, outline: _Outline, a_m, b_m, b: Body) -> None:
    """Ribs in the muscle wall: oblique hoops descending from back to front."""
    rim = outline.inside(a_m - 1, b_m - 1) & ~outline.inside(a_m - 11, b_m - 11)
    front = (1 - Y / np.hypot(X, Y + 1e-3)) / 2  # 0 at the back, 1 at the front
    level = Z + b.rib_drop * front
    band = np.mod(level, b.rib_pitch)
    # Lowest ribs: floating ribs at the back reach lower than the costal margin.
    lowest = -0.55 * b.liver_span - 40 * (1 - front) + 30 * front
    ribs = rim & (band < 9) & (Z > lowest) & ~((front > 0.93) & (Z < -20))
    ribs &= ~((Y > b.y_vb) & (np.abs(X) < b.vb_semi[0] + 50))  # erector spinae lie on the ribs
    tissue[ribs] = T.CANCELLOUS
    tissue[ribs & ((band < 2) | (band > 7))] = T.CORTICAL
