"""Colon and small bowel as tubes along smooth random 3D paths in the free abdomen.

Real abdominal CT (adult, supine): small bowel loops 20-30 mm wide, packed
centrally and in the left and lower abdomen, with a 2-3 mm wall that
enhances in the portal venous phase and fluid (0-20 HU) or some gas with an
air-fluid level; colon 40-60 mm wide, ascending along the right flank,
transverse under the liver and stomach, descending along the left flank,
with haustral folds every 20-30 mm and gas plus mottled stool (-500..+50 HU;
Horton, Fishman et al., RadioGraphics 2000;20:1389-1410 "CT of the small
bowel"; Macari & Megibow, Radiology 2001;218:333-341).

Paths are random walks with momentum (the colon along a frame of flexures,
the small bowel self-avoiding), sampled every 4 mm and painted as chains of
tapered capsules through a signed distance (``min(d - r)``). A coarse signed
distance map of the free visceral fat (4 mm lattice anchored in the body
frame) pushes the path away from the liver, kidneys, spleen, stomach and
vessels and narrows it where space is tight; painting only ever replaces free
visceral fat, so bowel never pierces another organ.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from liverlib.phantom import intensities as T
from liverlib.phantom.geometry import Grid, smooth_noise

STEP = 4.0  # mm between path samples and of the free-space lattice


class FreeSpace:
    """Signed distance (mm) to the nearest non-free voxel, on a 4 mm lattice."""

    def __init__(self, cavity: np.ndarray, tissue: np.ndarray, grid: Grid):
        """Free space = visceral fat inside ``cavity``, sampled on the lattice only."""
        self.lo = [np.ceil(a[0] / STEP) * STEP for a in (grid.z, grid.y, grid.x)]
        axes = [np.arange(lo, a[-1] + 1e-3, STEP) for lo, a in zip(self.lo, (grid.z, grid.y, grid.x), strict=True)]
        idx = [np.clip(np.round((ax - a[0]) / (a[1] - a[0])).astype(int), 0, a.size - 1)
               for ax, a in zip(axes, (grid.z, grid.y, grid.x), strict=True)]
        ix = np.ix_(*idx)
        sub = cavity[ix] & (tissue[ix] == T.VISCERAL_FAT)
        sub[0] |= sub[1]  # the scan's bottom slice continues below it
        d = ndimage.distance_transform_edt(sub, sampling=STEP) - ndimage.distance_transform_edt(~sub, sampling=STEP)
        self.d = d.astype(np.float32)
        self.g = np.stack(np.gradient(self.d, STEP))
        self.occ = np.zeros(self.d.shape, np.float32)

    def _idx(self, p):
        p = np.atleast_2d(p)
        i = np.round((p - np.asarray(self.lo)) / STEP).astype(int)
        return tuple(np.clip(i[:, k], 0, self.d.shape[k] - 1) for k in range(3))

    def dist(self, p):
        return self.d[self._idx(p)]

    def push(self, p, r: float, r_min: float):
        """Move ``p`` up the distance gradient until a tube of radius ``r`` fits.

        Returns:
            ``(p, r_fit)``, ``r_fit`` in ``[r_min, r]`` (narrowed where space is tight).
        """
        p = np.array(p, float)
        for _ in range(4):
            i = self._idx(p)
            d = float(self.d[i][0])
            if d >= r + 1.5:
                break
            g = self.g[(slice(None), *i)][:, 0]
            n = float(np.linalg.norm(g))
            if n < 1e-3:
                break
            p += min(STEP, r + 1.5 - d) * g / n
        return p, float(np.clip(float(self.dist(p)[0]) - 1.5, r_min, r))

    def mark(self, p, r: float):
        """Record a tube of radius ``r`` at ``p`` (later walks avoid it)."""
        i = [int(v[0]) for v in self._idx(p)]
        k = int(np.ceil(r / STEP))
        self.occ[tuple(slice(max(0, c - k), c + k + 1) for c in i)] += 1.0


def _walk_colon(body, grid: Grid, fs: FreeSpace, rng) -> tuple[np.ndarray, np.ndarray]:
    """Cecum -> ascending -> hepatic flexure -> transverse -> splenic flexure -> descending."""
    S, A, B = body.liver_span, body.a_in, body.b_in
    zb = float(grid.z[0]) - 15
    r0 = rng.uniform(20, 27)
    ctrl = np.array([
        (zb, -0.05 * B, -(A - r0 - 6)),
        (-0.62 * S, -0.05 * B, -(A - r0 - 8)),  # hepatic flexure under the liver
        (-0.7 * S, -0.55 * B, -0.3 * A),
        (-0.75 * S - rng.uniform(0, 30), -0.62 * B, 0.1 * A),  # transverse colon sags
        (-0.45 * S, -0.05 * B, A - r0 - 8),  # splenic flexure, high
        (zb, 0.05 * B, A - r0 - 6),
    ])
    seg = np.linalg.norm(np.diff(ctrl, axis=0), axis=1)
    s = np.concatenate([[0], np.cumsum(seg)])
    n = int(s[-1] / STEP) + 1
    u = np.linspace(0, s[-1], n)
    pts = np.stack([np.interp(u, s, ctrl[:, k]) for k in range(3)], 1)
    pts = ndimage.gaussian_filter1d(pts, 6, axis=0, mode="nearest")  # round the flexures
    for k, amp in ((1, 8.0), (2, 8.0)):  # gentle redundancy of the colon
        ph, lam = rng.uniform(0, 2 * np.pi), rng.uniform(120, 200)
        pts[:, k] += amp * np.sin(2 * np.pi * u / lam + ph)
    radii = np.empty(n)
    for i in range(n):
        pts[i], radii[i] = fs.push(pts[i], r0, 0.6 * r0)
        fs.mark(pts[i], radii[i])
    return pts, ndimage.uniform_filter1d(radii, 5)


def _walk_small_bowel(body, grid: Grid, fs: FreeSpace, rng, total_mm: float) -> list:
    """Self-avoiding random walks with momentum packed in the central/left lower abdomen."""
    S, A, B = body.liver_span, body.a_in, body.b_in
    z_lo, z_hi = float(grid.z[0]) - 10, -0.62 * S
    c = np.array([0.5 * (z_lo + z_hi), -0.35 * B, 0.12 * A])
    semi = np.array([0.5 * (z_hi - z_lo) + 10, 0.55 * B, 0.62 * A])
    loops, done = [], 0.0
    for _ in range(14):
        if done >= total_mm:
            break
        r0 = rng.uniform(10, 14) if rng.uniform() > 0.15 else rng.uniform(6, 8)  # some collapsed
        cand = c + semi * rng.uniform(-0.8, 0.8, (40, 3))
        score = fs.dist(cand) - 3 * fs.occ[fs._idx(cand)] * STEP
        p = cand[int(np.argmax(score))]
        if fs.dist(p)[0] < r0:
            continue
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        pts, radii = [], []
        for _ in range(int(rng.uniform(250, 500) / STEP)):
            props = d + 0.45 * rng.normal(size=(8, 3))
            props /= np.linalg.norm(props, axis=1, keepdims=True)
            ahead = p + (r0 + 6) * props
            q = (ahead - c) / semi
            sc = (np.minimum(fs.dist(ahead) - r0, 6.0) - 4.0 * fs.occ[fs._idx(ahead)]
                  - 8.0 * np.maximum(np.sum(q * q, 1) - 1, 0) + rng.gumbel(size=8))
            j = int(np.argmax(sc))
            if sc[j] < -12:
                break
            d = props[j]
            p, r = fs.push(p + STEP * d, r0, 0.55 * r0)
            if fs.dist(p)[0] < 0.5 * r0:
                break
            pts.append(p.copy())
            radii.append(r)
            if len(pts) > 3:  # do not block the cells just behind the tip
                fs.mark(pts[-4], radii[-4])
        if len(pts) > 8:
            loops.append((np.array(pts), ndimage.uniform_filter1d(np.array(radii), 3)))
            done += len(pts) * STEP
    return loops


def _tube_sdf(grid: Grid, pts: np.ndarray, radii: np.ndarray):
    """Signed distance to a capsule chain, arc length and centre y of the nearest point.

    Returns:
        ``(slices, s, arc_mm, centre_y, radius)`` over the chain's bounding box.
    """
    r = float(radii.max())
    sl, Z, Y, X = grid.box(pts.min(0) - r - 2, pts.max(0) + r + 2)
    axes = (grid.z[sl[0]], grid.y[sl[1]], grid.x[sl[2]])
    shape = tuple(a.size for a in axes)
    best = np.full(shape, np.inf, np.float32)
    arc, cy, rad = (np.zeros(shape, np.float32) for _ in range(3))
    s_acc = 0.0
    for p0, p1, r0, r1 in zip(pts[:-1], pts[1:], radii[:-1], radii[1:], strict=True):
        rr = max(r0, r1) + 1
        lo, hi = np.minimum(p0, p1) - rr, np.maximum(p0, p1) + rr
        b = tuple(slice(int(np.searchsorted(a, lo[k])), int(np.searchsorted(a, hi[k], "right")))
                  for k, a in enumerate(axes))
        seg_len = float(np.linalg.norm(p1 - p0))
        if any(q.start >= q.stop for q in b):
            s_acc += seg_len
            continue
        z, y, x = Z[b[0]], Y[:, b[1]], X[:, :, b[2]]
        v = p1 - p0
        L2 = max(float(v @ v), 1e-9)
        t = np.clip(((z - p0[0]) * v[0] + (y - p0[1]) * v[1] + (x - p0[2]) * v[2]) / L2, 0.0, 1.0)
        dist = np.sqrt((z - p0[0] - t * v[0]) ** 2 + (y - p0[1] - t * v[1]) ** 2 + (x - p0[2] - t * v[2]) ** 2)
        rt = r0 + (r1 - r0) * t
        s = dist - rt
        win = s < best[b]
        best[b][win] = s[win]
        arc[b][win] = (s_acc + t * seg_len)[win]
        cy[b][win] = np.broadcast_to(p0[1] + t * v[1], win.shape)[win]
        rad[b][win] = np.broadcast_to(rt, win.shape)[win]
        s_acc += seg_len
    return sl, best, arc, cy, rad


def _paint_tube(tissue, cavity, grid: Grid, pts, radii, wall_mm: float, content) -> None:
    """Paint one chain: wall where ``s < 0``, ``content(...)`` codes where ``s < -wall``."""
    if len(pts) < 2:
        return
    sl, s, arc, cy, rad = _tube_sdf(grid, pts, radii)
    t = tissue[sl]
    ok = cavity[sl] & (t == T.VISCERAL_FAT)
    t[(s < 0) & ok] = T.GUT_WALL
    lumen = (s < -wall_mm) & ok
    Y = grid.y[sl[1]][None, :, None]
    codes = content(sl, s, arc, Y - cy, rad)
    t[lumen] = codes[lumen]


def paint_bowel(tissue, grid: Grid, body, cavity, rng: np.random.Generator) -> None:
    """Colon (gas, mottled stool, haustra) and small bowel loops (fluid, some gas).

    Args:
        tissue: Tissue-code map (painted in place; e.g. gut wall 85-125 HU
            portal venous, fluid 0-20 HU, gas -1000 HU).
        grid: The voxel grid.
        body: The patient's ``Body``.
        cavity: Free visceral space (bool); only its visceral fat is replaced.
        rng: The organ stream of this patient.
    """
    fs = FreeSpace(cavity, tissue, grid)
    pts, radii = _walk_colon(body, grid, fs, rng)
    pitch = rng.uniform(20, 30)
    gas_bias = rng.uniform(-0.3, 0.5)
    seed = body.seed + 50

    def colon_content(sl, s, arc, dy, rad):
        mottle = smooth_noise(seed, grid.z[sl[0]], grid.y[sl[1]], grid.x[sl[2]], 5.0)
        level = gas_bias + 0.5 * np.sin(arc / 70.0 + seed % 7)  # gas above, stool below
        out = np.where(dy < -level * rad, T.GUT_GAS, T.STOOL).astype(np.uint8)
        out[(out == T.STOOL) & (mottle > 0.9)] = T.GUT_GAS  # gas bubbles in stool
        fold = (s > -0.4 * rad) & (np.abs(np.mod(arc, pitch) - 0.5 * pitch) < 1.3)
        out[fold] = T.GUT_WALL  # haustral folds
        return out

    _paint_tube(tissue, cavity, grid, pts, radii, 2.0, colon_content)
    fs = FreeSpace(cavity, tissue, grid)
    for loop_pts, loop_r in _walk_small_bowel(body, grid, fs, rng, rng.uniform(1800, 2800)):
        kind = rng.choice(3, p=(0.65, 0.25, 0.1))  # fluid, air-fluid level, mostly gas
        lvl = (None, rng.uniform(-0.7, -0.2), rng.uniform(0.2, 0.7))[kind]

        def sb_content(sl, s, arc, dy, rad, lvl=lvl):
            out = np.full(s.shape, T.GUT_FLUID, np.uint8)
            if lvl is not None:
                out[dy < lvl * rad] = T.GUT_GAS
            return out

        _paint_tube(tissue, cavity, grid, loop_pts, loop_r, 2.5, sb_content)
