"""The liver: shape, volume calibration, gallbladder and vessel trees.

The envelope is a smooth union of a right-lobe and a left-lobe ellipsoid,
warped by a low-frequency random displacement field (about 10 mm) and
bounded by the diaphragm dome above, the abdominal wall, the other organs and
an oblique visceral plane below, which meets the anterior surface at an acute
angle (the thin inferior edge). The left lobe covers the front of the stomach
and ends over it; nothing lies behind or under the stomach, and below it the
liver keeps to the right of the pylorus (``_keepout``, ``_left_of_stomach``). A threshold on the implicit function is
chosen so the volume on the grid equals the patient's target (drawn with the
body's size, 0.9-2.2 L: ``anatomy.draw_body``) where the body has room for it
(a small body's liver fills the room there is, up to the level ``MAX_LEVEL``
of the shape function: ``meta["liver_ml"]`` against ``meta["liver_ml_drawn"]``;
seeds 1-24 paint 0.57-1.46 L, median 1.16 L, against adult livers of about
1.1-2.2 L, Heymsfield et al., Ann Intern Med 1979;90:185-187: the phantoms'
livers are on the small side, the smallest bodies' small ones);
the span follows from the dome and the plane, 12-18 cm.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from liverlib.phantom import intensities as T
from liverlib.phantom.anatomy import Body
from liverlib.phantom.geometry import Grid, capsule, ellipsoid, smooth_noise, softmin

#: Fat (the diaphragm's crus) between the aorta and the liver in front of it or to its right:
#: at least this many mm (the keep-out limits are pushed out by a further |6 n| mm, n a smooth
#: unit-SD field: mostly 0-12 mm).
AORTA_GAP_MM = 5.0
#: How far left of the aorta's left edge the keep-outs beside and behind it reach, at least, mm.
AORTA_BAND_MM = 20.0
#: Behind the IVC's centre line the liver reaches at most this far in from the IVC's right
#: (lateral) edge: the lip of its groove, mm.
IVC_GROOVE_MM = 3.0
#: Highest level set of the liver function the volume calibration may take (the liver
#: swells into free space up to there, never floods the whole cavity).
MAX_LEVEL = 3.5


def liver_function(grid: Grid, body: Body, rng: np.random.Generator, dome) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The implicit liver function on the grid, before the inferior cut.

    Returns:
        ``(f, height, zw)`` float32: ``f`` < threshold inside the liver
        envelope (``inf`` above the diaphragm), ``height`` the (warped) mm
        above the oblique, gently undulating visceral surface (the liver
        keeps ``height > -drop`` for a surface lowered by ``drop`` mm), and
        ``zw`` the warped height, so that any cut of the span is not flat.
    """
    S, A, B = body.liver_span, body.a_in, body.b_in
    Z, Y, X = grid.full()
    amp = rng.uniform(6, 14)  # mm of random warp: no two livers alike
    seeds = body.seed + 60
    Zw = Z + amp * smooth_noise(seeds, grid.z, grid.y, grid.x, 50.0)
    Yw = Y + amp * smooth_noise(seeds + 1, grid.z, grid.y, grid.x, 50.0)
    Xw = X + amp * smooth_noise(seeds + 2, grid.z, grid.y, grid.x, 50.0)
    right = ellipsoid(
        Zw, Yw, Xw,
        (-0.3 * S, rng.uniform(-0.05, 0.15) * B, -0.42 * A),
        (0.75 * S, rng.uniform(0.85, 1.0) * B, rng.uniform(0.5, 0.62) * A),
    )
    left = ellipsoid(
        Zw, Yw, Xw,
        (-0.18 * S, -0.45 * B, rng.uniform(0.0, 0.15) * A),
        (0.3 * S, rng.uniform(0.3, 0.42) * B, rng.uniform(0.45, 0.6) * A),
        yaw_deg=rng.uniform(-15, 5),
    )
    f = softmin(right, left, 0.2)
    # Oblique visceral (inferior) surface, lowest at the right lateral tip.
    gx, gy = rng.uniform(0.35, 0.55), rng.uniform(-0.15, 0.1)
    height = Zw - (-S + gx * (Xw + 0.75 * A) + gy * (Yw + 0.1 * B))
    # Impressions of the colon, kidney and gallbladder: the surface undulates
    # (about 10 mm over 30 mm), so it never meets an axial slice in a straight line.
    height += 10.0 * smooth_noise(seeds + 3, grid.z, grid.y, grid.x, 30.0)
    f = np.where(Z < dome - 5, f, np.inf)  # under the diaphragm muscle
    return f.astype(np.float32), height.astype(np.float32), Zw.astype(np.float32)


def _axial_extent(mask: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per axial slice of ``mask``, in body-frame mm: its front (smallest y), its mean y,
    its right edge (smallest x) and its left edge (largest x); on a slice without it
    inf, inf, inf and -inf (so a limit drawn from them keeps nothing out there).

    Args:
        mask: ``(Z, Y, X)`` bool, e.g. the aorta's voxels.
        grid: The phantom's grid (``grid.y``, ``grid.x`` in mm).

    Returns:
        Four float arrays of length Z, e.g. ``front[k]`` the y of the aorta's
        most anterior voxel on slice ``k``.
    """
    n = grid.z.size
    front, centre, right, left = (np.full(n, np.inf), np.full(n, np.inf), np.full(n, np.inf),
                                  np.full(n, -np.inf))
    for k in np.nonzero(mask.any(axis=(1, 2)))[0]:
        ys, xs = np.nonzero(mask[k])
        front[k], centre[k] = grid.y[ys.min()], grid.y[ys].mean()
        right[k], left[k] = grid.x[xs.min()], grid.x[xs.max()]
    return front, centre, right, left


def _keepout(tissue, grid: Grid, body: Body, cavity, stomach, kidneys) -> np.ndarray:
    """Voxels the liver may not take: not free visceral fat, the stomach (so the
    liver abuts it instead of being pierced) and the space behind and under it,
    beside and below it on the left (``_left_of_stomach``), the space behind and medial
    to the right kidney below its upper pole (the liver covers the kidney from
    in front and laterally, never wraps it), the space beside and behind the
    aorta (``AORTA_GAP_MM``, ``AORTA_BAND_MM``), and the space behind and medial
    to the IVC (``IVC_GROOVE_MM``)."""
    blocked = ~(cavity & (tissue == T.VISCERAL_FAT))
    if stomach is not None:
        sl, fs, _ = stomach
        # The stomach and its posterior and inferior shadows: the liver lies in
        # front of, above and to the right of it, so it never encircles it on
        # an axial slice, nor lies under its antrum on a coronal one (the
        # duodenum, pancreas head and colon lie there).
        near = fs < 1.1
        blocked[sl] |= np.maximum.accumulate(near, axis=1)
        blocked[sl] |= np.maximum.accumulate(near[::-1], axis=0)[::-1]  # z runs upwards: below it
        blocked[: sl[0].start, sl[1], sl[2]] |= near.any(axis=0)
        blocked |= _left_of_stomach(grid, sl, fs < 1.0, body.seed)
    # The left kidney lies outside the liver (nothing to the left of the
    # midline behind the front of the left kidney, below its upper pole).
    # The limits below are planes pushed out by |6 n| mm (n smooth over 35 mm with unit SD: mostly 0-12 mm),
    # so the liver's edge along them is a curve, not a straight cut; only
    # ever outwards, so nothing the flat planes kept out comes free.
    Z, Y, X = grid.full()
    z_, y_, x_ = (np.abs(6.0 * smooth_noise(body.seed + 70 + k, grid.z, grid.y, grid.x, 35.0)) for k in range(3))
    if len(kidneys) > 1:
        (z1, y1, _), semi1 = kidneys[1]
        blocked |= (Y + y_ > y1 - 0.6 * semi1[1]) & (X + x_ > 0.0) & (Z - z_ < z1 + semi1[0])
    # The aorta is retroperitoneal, behind the crura of the diaphragm: the liver
    # may lie in front of it and to its right, never behind it or beside it on
    # the left (within AORTA_BAND_MM), so it never encircles it on an axial slice
    # (where it would be a round lesion-like hole of 35-50 HU in an unenhanced
    # liver). Per slice, so the limit follows the aorta's course behind the hiatus.
    front, _, right, left = _axial_extent(tissue == T.AORTA, grid)
    blocked |= ((Y + y_ > front[:, None, None] - AORTA_GAP_MM) & (X + x_ > right[:, None, None] - AORTA_GAP_MM)
                & (X - x_ < left[:, None, None] + AORTA_BAND_MM))
    # The retrohepatic IVC lies in a groove on the back of the liver, the right
    # crus behind it and between it and the aorta: behind the IVC's centre line
    # the liver keeps lateral to it (the groove's lip reaches IVC_GROOVE_MM in
    # from its right edge), never behind it or medial to it (up to the aorta's
    # band), so it never closes around it either.
    _, centre_y, lateral, _ = _axial_extent(tissue == T.IVC, grid)
    # The aorta runs the whole scan; on a slice without it nothing is kept out here.
    medial = np.where(np.isfinite(left), left + AORTA_BAND_MM, -np.inf)
    blocked |= ((Y + y_ > centre_y[:, None, None]) & (X + x_ > lateral[:, None, None] + IVC_GROOVE_MM)
                & (X - x_ < medial[:, None, None]))
    if kidneys:
        (z0, y0, x0), semi = kidneys[0]
        below = Z - z_ < z0 + 0.9 * semi[0]
        blocked |= below & (Y + y_ > y0 + 2) & (X - x_ < 0.0)
        blocked |= below & (Y + y_ > y0 - 0.6 * semi[1]) & (X + x_ > x0) & (X - x_ < 0.0)
    return blocked


#: On each axial slice through the stomach the left lobe reaches about this share of the way
#: across it from its right edge (it covers the stomach's front, tapering there).
LEFT_LOBE_OVER_STOMACH = 0.7
#: Below the stomach the liver keeps to the right of the pylorus: about this many mm left of
#: the stomach's right edge on its lowest slice.
BELOW_PYLORUS_MM = 10.0


def _left_of_stomach(grid: Grid, sl, inside: np.ndarray, seed: int) -> np.ndarray:
    """Where the left lobe may not go beside and below the stomach.

    On each axial slice through the stomach, the liver may reach ``LEFT_LOBE_OVER_STOMACH`` of
    the way across it (from its right edge, e.g. 40 of 60 mm); below the stomach it keeps to the
    right of the pylorus (``BELOW_PYLORUS_MM``), where the duodenum and colon lie. The limit never
    widens downwards, so the liver's edge steps toward the right as the stomach ends. Without it a
    large liver in a small body filled the left upper quadrant around the stomach, wrapping it in
    front, to its left and below it on coronal slices (found 2026-11-30 in a fresh demo's 02
    montage). The liver may pass the limit by a smooth 0-10 mm (over 35 mm), so the edge is a
    curve; these are the shares and distances before that warp.

    Args:
        grid: The phantom's grid.
        sl: The stomach box's index slices in the grid.
        inside: Boolean stomach mask in its box.
        seed: The body's seed (the limit's smooth warp).

    Returns:
        Boolean ``(Z, Y, X)`` mask of the full grid.
    """
    blocked = np.zeros((grid.z.size, grid.y.size, grid.x.size), bool)
    rows = np.nonzero(inside.any(axis=(1, 2)))[0]
    if rows.size == 0:
        return blocked
    limit = np.full(grid.z.size, np.inf)
    x = grid.x[sl[2]]
    for k in rows:
        xs = x[np.nonzero(inside[k].any(axis=0))[0]]
        limit[sl[0].start + k] = xs.min() + LEFT_LOBE_OVER_STOMACH * (xs.max() - xs.min())
        if k == rows.min():  # z runs upwards: the stomach's lowest slice
            limit[: sl[0].start + k] = xs.min() + BELOW_PYLORUS_MM
    limit = np.minimum.accumulate(limit[::-1])[::-1]  # from the top down, never wider
    Z, Y, X = grid.full()
    # smooth_noise has unit SD, so |10 n| reached 37 mm in places and let the lobe round the stomach.
    warp = 10.0 * np.minimum(np.abs(smooth_noise(seed + 75, grid.z, grid.y, grid.x, 35.0)), 1.0)
    return (X - warp) > limit[:, None, None]


def paint_liver(tissue, grid: Grid, body: Body, cavity, dome, rng: np.random.Generator,
                stomach=None, kidneys=()):
    """Calibrate and paint the liver envelope; return it (bool).

    The drawn ``body.liver_span`` (e.g. 150 mm) sets the shape's ellipsoids and
    its inferior plane; that plane is lowered (up to 90 mm) until there is room,
    and the span is cut about 160-170 mm below the liver's top (a warped cut), so a
    liver short of room grows long: 36 of the demo cohort's 48 span 170 mm or
    more. The threshold is the ``n``-th smallest value of the implicit function,
    so the volume is the drawn target on this grid (e.g. 1.2 L = 1,200,000
    mm^3) unless the free space is exhausted.

    Args:
        stomach: ``organs.stomach_field`` output, kept out of the liver.
        kidneys: ``organs.paint_kidneys`` output (right kidney first).
    """
    dz = float(grid.z[1] - grid.z[0])
    voxel = dz * float(grid.y[1] - grid.y[0]) * float(grid.x[1] - grid.x[0])
    n = int(round(body.liver_ml * 1000.0 / voxel))
    blocked = _keepout(tissue, grid, body, cavity, stomach, kidneys)
    Z = np.broadcast_to(grid.z[:, None, None], tissue.shape)
    shape, height, zw = liver_function(grid, body, rng, dome)
    shape[blocked] = np.inf
    for drop in (0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0):  # same shape, only the plane moves
        f = np.where(height > -drop, shape, np.inf)
        rows = np.isfinite(f).any(axis=(1, 2))
        top = float(grid.z[rows].max()) if rows.any() else 0.0
        # Span at most about 175 mm: a warped cut, so that a liver that
        # reaches it ends in an uneven edge; a flat limit only beyond 170 mm.
        f[(zw < top - 160.0) | (Z < top - 170.0)] = np.inf
        if np.count_nonzero(f < 2.5) >= n:  # room for the target volume?
            break
    flat = f.ravel()
    n = min(n, int(np.isfinite(flat).sum()) - 1)
    t = min(float(np.partition(flat, n)[n]), MAX_LEVEL)  # never flood the whole cavity
    liver = f < t
    # Pockets of free fat the liver closes around (in 3D or on an axial slice)
    # become liver: nothing may later be painted into a hole of the liver.
    # (Any fat: also fat behind a keep-out plane, which bowel could fill later.)
    free = cavity & (tissue == T.VISCERAL_FAT) & ~liver
    free[tissue == T.SPLEEN] = True  # a stray voxel of spleen sealed inside the liver
    liver |= _holes(liver, in_plane=False) & free
    liver |= _holes(liver, in_plane=True) & free
    tissue[liver] = T.LIVER
    return liver


def _holes(mask: np.ndarray, in_plane: bool) -> np.ndarray:
    """Background voxels not connected to the grid's side faces (the holes).

    With ``in_plane`` the connectivity stays within each axial slice, so this
    is the per-slice ``binary_fill_holes`` in one labelling pass; otherwise
    holes are 3D pockets (connected to no face at all).
    """
    structure = ndimage.generate_binary_structure(3, 1)
    if in_plane:
        structure[0] = structure[2] = False
    lab, n = ndimage.label(~mask, structure=structure)
    faces = [lab[:, 0], lab[:, -1], lab[:, :, 0], lab[:, :, -1]]
    if not in_plane:
        faces += [lab[0], lab[-1]]
    outside = np.unique(np.concatenate([f.ravel() for f in faces]))
    hole = np.ones(n + 1, bool)
    hole[outside] = False
    hole[0] = False  # the mask itself
    return hole[lab]


def paint_gallbladder(tissue, grid: Grid, body: Body, liver, rng: np.random.Generator) -> None:
    """Gallbladder in its fossa on the inferior surface (absent in ~12 %)."""
    if rng.uniform() < 0.12:  # cholecystectomy
        return
    zz, yy, xx = np.nonzero(liver)
    # Anterior inferior liver, right of the midline: the fossa.
    cand = (grid.x[xx] > -0.45 * body.a_in) & (grid.x[xx] < -0.05 * body.a_in)
    cand &= grid.y[yy] < -0.15 * body.b_in
    if not cand.any():
        return
    k = int(np.argmin(np.where(cand, grid.z[zz], np.inf)))
    # Centred 0-12 mm above the lowest fossa point: its fundus reaches the
    # inferior edge, as on CT, and it is never a round pool deep in the liver
    # (which would look like a simple cyst).
    c = (grid.z[zz[k]] + rng.uniform(0, 12), grid.y[yy[k]], grid.x[xx[k]])
    semi = (rng.uniform(30, 45), rng.uniform(12, 18), rng.uniform(12, 18))
    sl, Z, Y, X = grid.box(np.subtract(c, 50), np.add(c, 50))
    q = ellipsoid(Z, Y, X, c, semi, pitch_deg=-35)
    t = tissue[sl]
    gb = (q < 1) & ((t == T.LIVER) | (t == T.VISCERAL_FAT))
    t[gb] = T.GALLBLADDER
    liver[sl] &= ~gb


def _inside(mask: np.ndarray, grid: Grid, p) -> bool:
    idx = [int(np.clip(np.searchsorted(a, v), 0, a.size - 1)) for a, v in zip((grid.z, grid.y, grid.x), p, strict=True)]
    return bool(mask[tuple(idx)])


def _tree(grid, liver, rng, start, direction, length, radius, depth, segs) -> None:
    """Grow a random vessel tree from ``start``; keep segments inside the liver."""
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    end = np.asarray(start, float) + length * d
    if radius < 1.5 or depth > 4 or not _inside(liver, grid, end):
        return
    segs.append((tuple(start), tuple(end), radius, radius * 0.85))
    for sign in (-1, 1):
        turn = rng.standard_normal(3)
        turn -= (turn @ d) * d
        nd = d + sign * rng.uniform(0.4, 0.8) * turn / max(np.linalg.norm(turn), 1e-6)
        _tree(grid, liver, rng, end, nd, length * rng.uniform(0.6, 0.8), radius * 0.72, depth + 1, segs)


def paint_liver_vessels(tissue, grid: Grid, body: Body, liver, vessels: dict, rng) -> None:
    """Portal vein (trunk to the hilum, then branches) and three hepatic veins."""
    S, A = body.liver_span, body.a_in
    xi, yi, _, _ = vessels["ivc"]
    zz, yy, xx = np.nonzero(liver)
    centre = np.array([grid.z[zz].mean(), grid.y[yy].mean(), grid.x[xx].mean()])
    # Portal trunk: from behind the pancreas neck up and right to the hilum.
    hilum = np.array([centre[0] - 0.05 * S, yi - 25, centre[2] + 0.25 * A])
    conf = np.array([-0.6 * S, yi - 30, -5.0])
    segs = [(tuple(conf), tuple(hilum), rng.uniform(6, 8), 6.0)]
    if _inside(liver, grid, hilum):
        for direction in ((0.3, 0.2, -1.0), (0.2, -1.0, 0.6), (0.5, -0.3, -0.5)):
            _tree(grid, liver, rng, hilum, np.add(direction, 0.2 * rng.standard_normal(3)), 40.0, 5.0, 1, segs)
    portal = len(segs)
    # Hepatic veins: right, middle, left, fanning out from the IVC near the dome.
    top = np.array([-0.12 * S, yi - 5, xi])
    for direction in ((-0.3, -0.2, -1.0), (-0.4, -1.0, -0.3), (-0.2, -0.8, 0.8)):
        _tree(grid, liver, rng, top, np.add(direction, 0.2 * rng.standard_normal(3)), 45.0, 5.5, 1, segs)
    for n, (p0, p1, r0, r1) in enumerate(segs):
        sl, m = capsule(grid, p0, p1, r0, r1)
        t = tissue[sl]
        code = T.PORTAL_VEIN if n < portal else T.HEPATIC_VEIN
        if n == 0:  # the extrahepatic trunk also runs through fat
            t[m & ((t == T.VISCERAL_FAT) | liver[sl])] = code
        else:
            t[m & liver[sl]] = code
