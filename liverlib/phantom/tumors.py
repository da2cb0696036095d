"""Liver lesions: how many, how large, what kind, and their CT appearance.

* Count: about 1 in 5 patients has none; otherwise ``1 + Poisson(2.5)``
  capped at 10, so the cohort median is about 3.
* Diameter: log-normal, median 18 mm, clipped to 5-80 mm (most small).
* Kinds: hypodense metastases (often several, some with a necrotic centre or
  an enhancing rim), hepatocellular carcinoma (arterial hyperenhancement,
  portal venous washout and an enhancing capsule), simple cysts (0-20 HU,
  round and sharp). HU ranges: ``intensities.LESION_HU``.
* Margins: metastases and HCC have a radius perturbed by smooth noise
  (irregular, lobulated); cysts do not. Every lesion is clipped to the liver.
* Labels: metastases and HCC are tumor (label 2: the "cancer" the model
  calls); simple cysts are benign and stay liver (label 1), as 3D-IRCADb
  keeps them in their own ``liverkyst`` masks, apart from ``livertumor*``,
  and as MSD Task03 labels cancer. The model so meets cysts as dark, round
  liver it must not call cancer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liverlib.phantom.geometry import Grid, box_noise, ellipsoid
from liverlib.phantom.intensities import LESION_HU

#: Lesion kinds labelled tumor (2); the others (cysts) stay liver (1).
MALIGNANT = ("metastasis", "hcc")


@dataclass
class Tumor:
    """One lesion.

    Args:
        kind: ``"metastasis"``, ``"hcc"`` or ``"cyst"``.
        center_mm: Body-frame ``(z, y, x)`` centre in mm.
        diameter_mm: Nominal diameter, e.g. 18.
        necrotic: Has a low-density (10-25 HU) centre.
        rim: Has an enhancing rim (or capsule for HCC).
        hu: Core HU drawn for the phase; ``volume_ml`` is filled after clipping.
    """

    kind: str
    center_mm: tuple[float, float, float]
    diameter_mm: float
    necrotic: bool = False
    rim: bool = False
    hu: float = 0.0
    volume_ml: float = 0.0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "center_mm": [round(float(v), 2) for v in self.center_mm],
            "diameter_mm": round(float(self.diameter_mm), 2),
            "necrotic": self.necrotic,
            "rim": self.rim,
            "hu": round(float(self.hu), 1),
            "volume_ml": round(float(self.volume_ml), 3),
        }


def draw_count(rng: np.random.Generator) -> int:
    """Number of lesions: 0 with p = 0.2, else 1 + Poisson(2.5), at most 10."""
    if rng.uniform() < 0.2:
        return 0
    return int(min(10, 1 + rng.poisson(2.5)))


def draw_kind(rng: np.random.Generator) -> str:
    """The patient's dominant lesion kind: metastases 55 %, HCC 25 %, cysts 20 %."""
    return str(rng.choice(["metastasis", "hcc", "cyst"], p=[0.55, 0.25, 0.2]))


def place_tumors(grid: Grid, liver: np.ndarray, phase: str, rng: np.random.Generator, seed: int):
    """Draw lesions and their masks inside ``liver``.

    Args:
        grid: The phantom grid.
        liver: Boolean liver envelope (lesions are clipped to it).
        phase: Contrast phase, for the lesion HU.
        rng: Patient generator.
        seed: Base seed of the margin noise fields.

    Returns:
        ``(tumor_id, tumors, parts)``: uint8 map (0 none, k for lesion k, later
        lesions drawn over earlier ones), the ``Tumor`` list (empty lesions
        dropped, ids renumbered 1..n), and per lesion ``(slices, mask, r)`` with
        ``r`` the normalised radius (0 centre, 1 margin) for painting HU.
    """
    tumor_id = np.zeros(liver.shape, np.uint8)
    n = draw_count(rng)
    main = draw_kind(rng)
    zz, yy, xx = np.nonzero(liver)
    tumors, parts = [], []
    if n == 0 or zz.size == 0:
        return tumor_id, tumors, parts
    for i in range(n):
        kind = main if (i == 0 or rng.uniform() < 0.75) else "cyst"
        d = float(np.clip(rng.lognormal(np.log(18.0), 0.75), 5.0, 80.0))
        if kind == "cyst":
            d = min(d, 50.0)
        k = int(rng.integers(zz.size))
        c = (float(grid.z[zz[k]]), float(grid.y[yy[k]]), float(grid.x[xx[k]]))
        semi = tuple(d / 2 * rng.uniform(0.85, 1.15) for _ in range(3))
        box = max(semi) * 1.4 + 2
        sl, Z, Y, X = grid.box(np.subtract(c, box), np.add(c, box))
        q = ellipsoid(Z, Y, X, c, semi, yaw_deg=rng.uniform(0, 180))
        r = np.sqrt(q)
        if kind != "cyst":  # irregular, lobulated margin
            r = r + 0.18 * box_noise(seed + i, Z, Y, X, max(4.0, d / 3))
        mask = (r < 1) & liver[sl]
        if not mask.any():
            continue
        big = d > 30
        t = Tumor(
            kind=kind,
            center_mm=c,
            diameter_mm=d,
            necrotic=kind != "cyst" and big and rng.uniform() < 0.6,
            rim=kind == "hcc" or (kind == "metastasis" and rng.uniform() < 0.35),
            hu=float(rng.uniform(*LESION_HU[kind][phase])),
        )
        t.extra["necrosis_hu"] = float(rng.uniform(*LESION_HU["necrosis"][phase]))
        t.extra["rim_hu"] = float(rng.uniform(*LESION_HU["rim"][phase]))
        tumors.append(t)
        parts.append((sl, mask, r.astype(np.float32)))
        tumor_id[sl][mask] = len(tumors)
    # Renumber: a lesion wholly covered by later ones disappears.
    keep = [k for k in range(1, len(tumors) + 1) if (tumor_id == k).any()]
    lut = np.zeros(256, np.uint8)
    lut[keep] = np.arange(1, len(keep) + 1)
    tumor_id = lut[tumor_id]
    tumors = [tumors[k - 1] for k in keep]
    parts = [parts[k - 1] for k in keep]
    return tumor_id, tumors, parts


def paint_tumor_hu(hu: np.ndarray, tex: np.ndarray, tumor_id: np.ndarray, tumors, parts, phase: str) -> None:
    """Write each lesion's HU (core, necrosis, rim) into the clean image ``hu``."""
    for k, (t, (sl, _mask, r)) in enumerate(zip(tumors, parts, strict=True), start=1):
        own = tumor_id[sl] == k
        val = np.full(r.shape, t.hu, np.float32)
        if t.kind == "cyst":
            hu[sl][own] = val[own]  # homogeneous fluid, no grain
            continue
        grain = 10.0 if (t.kind == "hcc" and phase == "arterial") else 6.0  # HCC mosaic
        val += grain * tex[sl]
        if t.necrotic:
            val = np.where(r < 0.55, t.extra["necrosis_hu"] + 3 * tex[sl], val)
        if t.rim:
            val = np.where(r > 0.8, t.extra["rim_hu"] + 4 * tex[sl], val)
        hu[sl][own] = val[own]
