"""The spine and the back: vertebrae with posterior elements, discs, canal, back muscles.

Adult lumbar sizes used (mm): vertebral bodies 40-48 wide and 30-36 deep
with a 1.5-2.5 mm cortical rim (cancellous core 150-300 HU, cortex 500-1000
HU), vertebra + disc height 30-36 with 6-9 mm discs (70-110 HU); canal about
20 x 15 (CSF 0-15 HU); pedicles, laminae, a spinous process 28-38 mm long
pointing posteriorly and sloping caudally (so it also shows at disc level),
transverse processes reaching 25-35 mm past the body in the lumbar spine,
articular facets beside the canal at disc level (Gray's Anatomy, 41st ed.;
Panjabi et al., Spine 1992;17:299-306). Muscles: paired erector spinae in
the grooves beside the spinous processes, behind a thin fascial layer and a
2-3 mm fat plane under the subcutaneous fat; psoas lateral to the bodies,
growing from about 1 cm at T12/L1 to 4-5 cm wide at L4; quadratus lumborum
behind the kidneys at the tips of the transverse processes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from liverlib.phantom import intensities as T
from liverlib.phantom.geometry import Grid


def paint_spine(tissue: np.ndarray, grid: Grid, b, inner: np.ndarray, outline, a_m: float, b_m: float) -> None:
    """Paint vertebrae, discs, canal and the paraspinal, psoas and quadratus muscles.

    Args:
        tissue: The tissue-code map, painted in place (e.g. muscle 45-60 HU,
            cortical bone 500-1000 HU).
        grid: The voxel grid (body-frame mm).
        b: The patient's ``Body``.
        inner: Inside the abdominal-wall muscle's outer surface (bool, grid shape).
        outline: The body-outline family (``anatomy._Outline``) on the grid.
        a_m, b_m: Semi-axes (mm) of the muscle wall's outer surface; shrunk
            by 3 mm it is the inside of the thin fascia, by 6 mm the limit
            of the back muscles, so a fascia (3 mm) and a fat plane (3 mm)
            separate them from the subcutaneous fat.
    """
    y0 = b.y_vb
    sx, sy = b.vb_semi
    P = b.vb_period
    sl, Z, Y, X = grid.box((-1e4, y0 - 45, -130), (1e4, b.b, 130))
    Z, Y, X = np.broadcast_arrays(Z, Y, X)
    t = tissue[sl]
    inner = inner[sl]
    fascia_in = outline.inside(a_m - 3, b_m - 3, sl)
    deep = outline.inside(a_m - 6, b_m - 6, sl)
    S = b.liver_span
    grow = np.clip((-Z - 0.5 * S) / 110, 0, 1)  # 0 at T12/L1, 1 at L4
    lumbar = Z < -0.45 * S
    ax = np.abs(X)
    u = np.mod(Z - b.vb_phase, P) / P  # 0..1 along one vertebra: disc at the bottom
    disc_h = 7.5 / P
    rcx, rcy = 10.5 + 1.5 * grow, 8.0  # canal semi-axes
    yc = y0 + sy + rcy - 1  # canal centre, just behind the body
    spin_len = 30 + 6 * grow

    # 1. Back compartment behind the transverse-process plane: fat first
    # (the fat planes), then the muscles inside it.
    # Its front slopes back laterally, leaving the kidneys' place free.
    comp = inner & (Y > yc - 12 + 0.5 * np.maximum(ax - sx - 12, 0)) & (ax < sx + 58)
    comp &= np.isin(t, (T.MUSCLE, T.VISCERAL_FAT, T.SUBCUT_FAT))
    t[comp & (fascia_in | (Y < yc + 20))] = T.SUBCUT_FAT
    ex, exs = 6 + 20 + 4 * grow, 20 + 4 * grow  # erector spinae centre |x| and semi-axis
    erector = ((ax - ex) / exs) ** 2 + ((Y - yc - 40) / 46) ** 2 < 1
    erector &= deep & (Y > yc - 4) & (ax > 3.5)
    erector &= ~((ax < 2.5) & (Y > yc + rcy + spin_len - 2))  # supraspinous fat
    qls = 10 + 7 * grow  # quadratus lumborum, only in the lumbar region
    ql = ((ax - sx - 40 - 4 * grow) / qls) ** 2 + ((Y - yc + 4) / (8 + 3 * grow)) ** 2 < 1
    ql &= lumbar & inner
    t[(erector | ql) & np.isin(t, (T.SUBCUT_FAT, T.VISCERAL_FAT, T.MUSCLE))] = T.MUSCLE
    # Psoas: lateral to the bodies, from T12/L1 down, growing caudally.
    pcx, psx, psy = sx + 4 + 12 * grow, 5 + 13 * grow, 7 + 11 * grow
    psoas = ((ax - pcx) / psx) ** 2 + ((Y - y0 - 2 + 4 * grow) / psy) ** 2 < 1
    t[psoas & lumbar & (t == T.VISCERAL_FAT)] = T.MUSCLE

    # 2. Vertebral body (posterior surface slightly concave), endplates, disc.
    r = (X / sx) ** 2 + ((Y - y0) / sy) ** 2
    notch = (X / (0.45 * sx)) ** 2 + ((Y - y0 - sy - 3) / 6) ** 2 < 1
    disc = u < disc_h
    body_in = (r < np.where(disc, 1.06, 1.0)) & ~notch
    t[body_in] = T.CORTICAL
    core = ((X / (sx - 2.0)) ** 2 + ((Y - y0) / (sy - 2.0)) ** 2 < 1) & ~notch
    endplate = (u < disc_h + 1.5 / P) | (u > 1 - 1.5 / P)
    t[core & ~endplate] = T.CANCELLOUS
    t[body_in & disc] = T.DISC

    # 3. Posterior elements of each vertebra; they slope caudally, so they
    # cover the disc below (v < 0 is below this vertebra's body).
    v = np.mod(u + 0.2, 1.0) - 0.2  # -0.2..0.8
    rc = ((X / rcx) ** 2 + ((Y - yc) / rcy) ** 2)
    ring = (X / (rcx + 5.5)) ** 2 + ((Y - yc) / (rcy + 5.5)) ** 2 < 1
    pedicle = ((ax - rcx - 2.5) / 4.0) ** 2 + ((Y - y0 - sy - 3) / 7.0) ** 2 < 1
    pedicle &= (v > 0.45) & (v < 0.85 - 0.1)
    lamina = ring & (Y > yc - 2) & (v > -0.05) & (v < 0.75)
    y_sp = yc + rcy + 2
    spinous = (ax < 3.0 + 1.5 * ((Y - y_sp) > spin_len - 8)) & (Y > y_sp - 4) & (Y < y_sp + spin_len)
    spinous &= (v > -0.2) & (v < 0.7)
    tp_len = np.where(lumbar, 28 + 6 * grow, 14.0)
    transverse = (ax > rcx) & (ax < sx + tp_len) & (np.abs(Y - yc + 1 + 0.1 * (ax - rcx)) < 4.5 - 0.06 * (ax - rcx))
    transverse &= (v > 0.4) & (v < 0.65)
    facet = ((ax - rcx - 6) / 6.0) ** 2 + ((Y - yc - 4) / 7.5) ** 2 < 1
    facet &= (v < 0.15) | (v > 0.7)
    post = (pedicle | lamina | spinous | transverse | facet) & ~(rc < 1) & ~body_in
    # Cortex 1.5-2 mm, cancellous core: erode each axial cut in-plane.
    px = float(grid.y[1] - grid.y[0])
    it = max(1, int(round(1.6 / px)))
    st = np.zeros((1, 3, 3), bool)
    st[0, 1, :] = st[0, :, 1] = True
    core_post = ndimage.binary_erosion(post, structure=st, iterations=it)
    t[post] = T.CORTICAL
    t[core_post] = T.CANCELLOUS
    # Facet joint space: a thin oblique soft-tissue line through each facet.
    joint = facet & (np.abs((ax - rcx - 6) * 0.8 - (Y - yc - 4) * 0.6) < 0.8) & (v < 0.1)
    t[joint & post] = T.MUSCLE
    t[rc < 1] = T.CSF
