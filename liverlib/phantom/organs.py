"""Abdominal organs other than the liver and bowel: great vessels, kidneys, spleen,
stomach and pancreas (bowel: ``bowel``).

Typical adult sizes used (mm): aorta 18-26 diameter, IVC about 25 x 18,
kidneys 100-120 long with a 5-8 mm cortex, spleen about 110 x 70 x 45,
small bowel loops 20-30 wide with a 2-3 mm wall, colon 40-60 wide.
"""

from __future__ import annotations

import numpy as np

from liverlib.phantom import intensities as T
from liverlib.phantom.anatomy import Body
from liverlib.phantom.geometry import Grid, box_noise, capsule, ellipsoid, softmin


def paint_vessels(tissue: np.ndarray, grid: Grid, body: Body, rng: np.random.Generator) -> dict:
    """Aorta and inferior vena cava, running the whole scan length.

    Returns:
        Their centre lines as ``{"aorta": (x, y, r), "ivc": (x, y, rx, ry)}`` at the
        liver hilum level, for the portal vein and hepatic veins to join.
    """
    sy = body.vb_semi[1]
    r_a = rng.uniform(9, 13)
    xa, ya = rng.uniform(10, 20), body.y_vb - sy - r_a - 2
    xi, yi = -rng.uniform(22, 30), body.y_vb - sy - 10
    rx_i, ry_i = rng.uniform(11, 14), rng.uniform(7, 10)
    sl, Z, Y, X = grid.box((-1e4, ya - 60, -80), (1e4, body.y_vb + 10, 80))
    up = np.clip((Z + 10) / 40, 0, 1)  # above the hiatus the aorta runs posterior
    aorta = (X - xa - 6 * up) ** 2 + (Y - ya - 14 * up) ** 2 < r_a**2
    liver_lvl = np.clip((Z + 0.55 * body.liver_span) / 60, 0, 1)  # IVC turns anterior in the liver
    ivc = ((X - xi + 4 * liver_lvl) / rx_i) ** 2 + ((Y - yi + 12 * liver_lvl) / ry_i) ** 2 < 1
    ivc &= Z < -body.left_dome - 5
    t = tissue[sl]
    t[aorta & (t != T.LUNG) | aorta & (Z < 0)] = T.AORTA
    t[ivc] = T.IVC
    return {"aorta": (xa, ya, r_a), "ivc": (xi - 4, yi - 12, rx_i, ry_i)}


def paint_kidneys(tissue, grid: Grid, body: Body, cavity, rng: np.random.Generator) -> list:
    """Kidneys with cortex, medullary pyramids, sinus fat and a fluid-filled pelvis.

    Returns:
        ``[(centre_zyx, semi_zyx), ...]`` right then left, e.g. ``((-130, 60, -70),
        (54, 26, 23))`` mm, so the liver can be kept off the back of the right kidney.
    """
    out = []
    zr = -0.78 * body.liver_span - rng.uniform(0, 15)
    for side, z0 in ((-1, zr), (1, zr + rng.uniform(10, 25))):
        x0 = side * (body.vb_semi[0] + rng.uniform(42, 52))
        y0 = body.y_vb + rng.uniform(-2, 10)
        semi = (rng.uniform(50, 58), rng.uniform(24, 28), rng.uniform(21, 25))
        yaw = side * rng.uniform(25, 40)  # hilum faces antero-medially
        sl, Z, Y, X = grid.box((z0 - 60, y0 - 40, x0 - 40), (z0 + 60, y0 + 40, x0 + 40))
        q = ellipsoid(Z, Y, X, (z0, y0, x0), semi, yaw_deg=yaw, pitch_deg=-12)
        r = np.sqrt(q)
        c, s = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
        medial = -side * (c * (X - x0) + s * (Y - y0)) / semi[2]  # toward the hilum
        pyramids = box_noise(body.seed + 20 + side, Z, Y, X, 14.0) > -0.2
        t = tissue[sl]
        inside = (r < 1) & cavity[sl]
        t[inside] = T.KIDNEY_CORTEX
        t[inside & (r < 0.74) & pyramids] = T.KIDNEY_MEDULLA
        sinus = inside & (((r < 0.42) | (medial > 0.45)) & (np.abs(Z - z0) < 0.45 * semi[0]))
        t[sinus] = T.VISCERAL_FAT
        t[sinus & (r < 0.3)] = T.GUT_FLUID  # renal pelvis (water density)
        out.append(((z0, y0, x0), semi))
    return out


def paint_spleen(tissue, grid: Grid, body: Body, cavity, rng: np.random.Generator) -> None:
    """A crescent-shaped spleen in the left upper quadrant, against the wall."""
    S, A, B = body.liver_span, body.a_in, body.b_in
    c = (-0.22 * S - rng.uniform(0, 20), 0.32 * B, 0.6 * A)
    semi = (rng.uniform(45, 60), rng.uniform(0.45, 0.6) * B, rng.uniform(20, 28))
    sl, Z, Y, X = grid.box((c[0] - 70, c[1] - 80, c[2] - 60), (c[0] + 70, c[1] + 80, c[2] + 60))
    q = ellipsoid(Z, Y, X, c, semi, yaw_deg=-35)
    q = q + 0.15 * box_noise(body.seed + 30, Z, Y, X, 35.0)
    hollow = ellipsoid(Z, Y, X, (c[0], c[1] - 10, c[2] - 30), (semi[0] * 1.1, semi[1] * 0.8, 24))
    t = tissue[sl]
    t[(q < 1) & (hollow > 1) & cavity[sl] & (t == T.VISCERAL_FAT)] = T.SPLEEN


def stomach_field(grid: Grid, body: Body, rng: np.random.Generator):
    """The stomach's implicit function (fundus, body, antrum; < 1 inside).

    Drawn before the liver so the liver is shaped around it (abuts it) rather
    than the stomach piercing the liver later.

    Returns:
        ``(slices, f, air_level_mm)``.
    """
    S, A, B = body.liver_span, body.a_in, body.b_in
    sl, Z, Y, X = grid.box((-0.75 * S, -B, -0.3 * A), (0, 0.5 * B, 0.8 * A))
    f1 = ellipsoid(Z, Y, X, (-0.25 * S, 0.0, 0.3 * A), (0.22 * S, 0.35 * B, 0.25 * A), yaw_deg=20)
    f2 = ellipsoid(Z, Y, X, (-0.42 * S, -0.35 * B, 0.18 * A), (0.15 * S, 0.28 * B, 0.22 * A), yaw_deg=30)
    f3 = ellipsoid(Z, Y, X, (-0.52 * S, -0.55 * B, -0.05 * A), (0.1 * S, 0.2 * B, 0.22 * A))
    f = softmin(softmin(f1, f2, 0.3), f3, 0.3) * rng.uniform(0.8, 1.3)  # filling varies
    f = f + 0.12 * box_noise(body.seed + 40, Z, Y, X, 30.0)
    return sl, f.astype(np.float32), float(-0.45 * B + rng.uniform(-0.1, 0.35) * B)


def paint_stomach(tissue, grid: Grid, stomach, cavity) -> None:
    """Stomach wall (3-5 mm), fluid (0-20 HU) and an anterior air cap, in free space.

    Args:
        stomach: ``stomach_field`` output; the wall is the shell 0.82 < f < 1.
    """
    sl, f, air_level = stomach
    t = tissue[sl]
    free = cavity[sl] & (t == T.VISCERAL_FAT)
    t[(f < 1) & free] = T.GUT_WALL
    lumen = (f < 0.82) & free
    t[lumen] = T.GUT_FLUID
    t[lumen & (grid.y[sl[1]][None, :, None] < air_level)] = T.GUT_GAS


def paint_pancreas(tissue, grid: Grid, body: Body, cavity, rng: np.random.Generator) -> None:
    """Pancreas: tail at the splenic hilum, body over the aorta, head to the right."""
    S, A = body.liver_span, body.a_in
    yb = body.y_vb - body.vb_semi[1] - 38
    pts = [
        (-0.36 * S, body.y_vb - 5, 0.5 * A),
        (-0.45 * S, yb, 0.05 * A),
        (-0.55 * S, yb + 8, -0.22 * A),
    ]
    radii = (rng.uniform(8, 11), rng.uniform(10, 13), rng.uniform(13, 17))
    for p0, p1, r0, r1 in zip(pts[:-1], pts[1:], radii[:-1], radii[1:], strict=True):
        sl, m = capsule(grid, p0, p1, r0, r1)
        t = tissue[sl]
        t[m & cavity[sl] & (t == T.VISCERAL_FAT)] = T.PANCREAS


def paint_mesenteric_vessels(tissue, grid: Grid, body: Body, cavity, vessels: dict) -> int:
    """Superior mesenteric artery and vein with jejunal and ileal branches.

    The SMA leaves the front of the aorta about 1 cm below the pancreas body
    level and runs down in the mesenteric root, 6-8 mm wide (arterial HU, the
    aorta's code); the SMV, 9-12 mm wide, lies to its right and rises to the
    portal confluence behind the pancreas neck (portal HU); branches fan out
    toward the left upper (jejunum) and right lower (ileum) mesentery. On an
    axial slice below the pancreas they are the two round vessels in front of
    the aorta (Horton & Fishman, RadioGraphics 2001;21:1463-1473). Painted only
    into free visceral fat, before the bowel, which then winds around them.
    Uses its own random stream, so the organs painted before it keep their
    shape for a seed (the bowel, painted after, winds differently).

    Returns:
        The number of vessel segments painted.
    """
    rng = np.random.default_rng([body.seed, 71])
    S = body.liver_span
    xa, ya, ra = vessels["aorta"]
    _, yi, _, _ = vessels["ivc"]
    z0 = -0.6 * S - rng.uniform(5, 15)
    r_sma, r_smv = rng.uniform(3.0, 4.0), rng.uniform(4.5, 6.0)
    drop = rng.uniform(120, 170)
    sma = [(z0, ya - ra + 1, xa), (z0 - 20, ya - ra - 14, xa - 4), (z0 - drop, ya - ra - 24 - rng.uniform(0, 15), xa - 10)]
    confluence = (-0.6 * S, yi - 30, -5.0)  # where paint_liver_vessels starts the portal trunk
    smv = [confluence, (z0 - 25, yi - 34, -12.0), (z0 - drop, yi - 40 - rng.uniform(0, 15), -22.0)]
    segs = [(p0, p1, r_sma, r_sma * 0.9, T.AORTA) for p0, p1 in zip(sma[:-1], sma[1:], strict=True)]
    segs += [(p0, p1, r_smv, r_smv * 0.9, T.PORTAL_VEIN) for p0, p1 in zip(smv[:-1], smv[1:], strict=True)]
    for trunk, r, code in ((sma, r_sma, T.AORTA), (smv, r_smv, T.PORTAL_VEIN)):
        top, bottom = np.asarray(trunk[1]), np.asarray(trunk[2])
        for _ in range(int(rng.integers(3, 6))):
            start = top + rng.uniform(0.1, 0.9) * (bottom - top)
            side = 1.0 if rng.uniform() < 0.6 else -1.0  # jejunum left, ileum right
            direction = np.array([rng.uniform(-0.6, 0.3), rng.uniform(-0.8, -0.2), side])
            end = start + rng.uniform(40, 80) * direction / np.linalg.norm(direction)
            segs.append((tuple(start), tuple(end), 0.55 * r, 0.35 * r, code))
    for p0, p1, r0, r1, code in segs:
        sl, m = capsule(grid, p0, p1, r0, r1)
        t = tissue[sl]
        t[m & cavity[sl] & (t == T.VISCERAL_FAT)] = code
    return len(segs)
