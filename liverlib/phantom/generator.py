"""``generate_phantom``: one synthetic contrast-enhanced abdominal CT with ground truth.

The steps, each in its own module: draw the body (``anatomy``), scan geometry
(``acquisition``), paint tissues into a tissue-code map (``anatomy``,
``organs``, ``liver``), place lesions (``tumors``), turn codes into HU per
phase (``intensities``), then blur and add correlated noise. Independent
random streams per step mean a 256 and a 512 matrix of one seed show the
same patient, and one seed always gives byte-identical arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liverlib.phantom import intensities as T
from liverlib.phantom.acquisition import blur, ct_noise, draw_acquisition, make_grid
from liverlib.phantom.anatomy import draw_body, paint_body
from liverlib.phantom.bowel import paint_bowel
from liverlib.phantom.identity import draw_identity
from liverlib.phantom.liver import paint_gallbladder, paint_liver, paint_liver_vessels
from liverlib.phantom.organs import (
    paint_kidneys,
    paint_mesenteric_vessels,
    paint_pancreas,
    paint_spleen,
    paint_stomach,
    paint_vessels,
    stomach_field,
)
from liverlib.phantom.tumors import MALIGNANT, paint_tumor_hu, place_tumors
from liverlib.volume import Volume

#: Written into each phantom's meta (and ``phantom.json``); a cohort written by
#: another version is generated again (``cohort_pipeline.ensure_phantoms``).
#: 2: simple cysts are liver (label 1) and written as ``liverkyst``, not tumor.
#: 1 (``phantom.json`` without a ``version``): every generator before that.
PHANTOM_VERSION = 2


@dataclass
class Phantom:
    """One generated study.

    Args:
        hu: int16 ``(z, y, x)`` CT numbers in the Volume convention, -1024..3071.
        label: uint8 ``(z, y, x)``: 0 background, 1 liver (benign cysts
            included), 2 tumor (metastases, HCC).
        tumor_id: uint8 ``(z, y, x)``: 0 none, k for lesion k (1-based),
            cysts included: ``tumors[k - 1]["kind"]`` tells which.
        tissue: uint8 tissue-code map (``intensities`` codes), the painter's truth.
        spacing: ``(dz, dy, dx)`` mm, e.g. ``(5.0, 1.48, 1.48)``.
        origin: LPS ``(x, y, z)`` of the centre of voxel ``[0, 0, 0]``.
        phase: ``"portal_venous"``, ``"arterial"`` or ``"unenhanced"``.
        tumors: One dict per lesion, cysts included (kind, centre, diameter,
            HU, volume).
        identity: Fake DICOM identity (name, ID, dates...).
        case_id: ``phantom-<seed>`` unless the cohort renames it.
        tissue_hu: Mean HU drawn per tissue code (before texture and noise).
        meta: Seed, matrix, FOV, noise SD, liver mL, tumor and cyst counts,
            the generator's ``version``... (no PHI).
    """

    hu: np.ndarray
    label: np.ndarray
    tumor_id: np.ndarray
    tissue: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    phase: str
    tumors: list[dict]
    identity: dict
    case_id: str
    tissue_hu: np.ndarray
    meta: dict = field(default_factory=dict)

    def lesion_masks(self, kinds: tuple[str, ...] | None = None) -> list[np.ndarray]:
        """One boolean mask per lesion, in ``tumors`` order; only those of ``kinds``
        (e.g. ``("cyst",)``) when given."""
        return [self.tumor_id == k for k, t in enumerate(self.tumors, start=1) if kinds is None or t["kind"] in kinds]

    @property
    def cyst_mask(self) -> np.ndarray | None:
        """The simple cysts (liver in ``label``; what a later tumor covers is tumor), None without any."""
        cysts = self.lesion_masks(("cyst",))
        return np.logical_or.reduce(cysts) & (self.label == 1) if cysts else None

    def to_volume(self) -> Volume:
        """The phantom as a ``Volume`` (no identity in it)."""
        return Volume(hu=self.hu, spacing=self.spacing, case_id=self.case_id, label=self.label,
                      origin=self.origin, meta={"source": "phantom", "phase": self.phase}, cyst=self.cyst_mask)


def generate_phantom(
    seed: int,
    *,
    matrix: int = 256,
    thickness: float | None = None,
    noise: bool = True,
) -> Phantom:
    """Generate one abdominal CT phantom.

    Args:
        seed: Any int; the same seed gives byte-identical arrays.
        matrix: 256 (default, 1.2-1.9 mm pixels, fast) or 512 (0.6-0.95 mm,
            clinical spacing).
        thickness: Override the drawn slice thickness in mm (e.g. 5.0).
        noise: False skips blur and noise (for checking the drawn HU, e.g.
            liver 100-130 HU portal venous).

    Returns:
        A ``Phantom``.
    """
    streams = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 20240917]).spawn(6)
    r_body, r_acq, r_org, r_hu, r_tum, r_id = (np.random.default_rng(s) for s in streams)
    noise_seed = int(streams[0].generate_state(1)[0])
    body = draw_body(r_body)
    phase = T.draw_phase(r_hu)
    lut = T.draw_tissue_hu(phase, r_hu)
    acq = draw_acquisition(body, matrix, r_acq, thickness)
    grid = make_grid(body, acq)

    tissue = np.zeros(grid.shape, np.uint8)
    helpers = paint_body(tissue, grid, body)
    cavity, dome = helpers["cavity"], helpers["dome"]
    # Retroperitoneal organs first; the liver then fills free space around
    # them and the stomach, and the other viscera take what the liver left.
    vessels = paint_vessels(tissue, grid, body, r_org)
    kidneys = paint_kidneys(tissue, grid, body, cavity, r_org)
    paint_spleen(tissue, grid, body, cavity, r_org)
    stomach = stomach_field(grid, body, r_org)
    liver = paint_liver(tissue, grid, body, cavity, dome, r_org, stomach, kidneys)
    paint_stomach(tissue, grid, stomach, cavity)
    paint_pancreas(tissue, grid, body, cavity, r_org)
    paint_mesenteric_vessels(tissue, grid, body, cavity, vessels)
    paint_gallbladder(tissue, grid, body, liver, r_org)
    paint_liver_vessels(tissue, grid, body, liver, vessels, r_org)
    paint_bowel(tissue, grid, body, cavity, r_org)
    tumor_id, tumors, parts = place_tumors(grid, liver, phase, r_tum, body.seed + 100)

    # Tissue grain: smooth texture (~1.5 mm) scaled per tissue.
    tex = ct_noise_texture(grid.shape, acq.pixel_mm, acq.thickness_mm, noise_seed + 1)
    hu = lut[tissue] + T.TEXTURE_SD[tissue] * tex
    paint_tumor_hu(hu, tex, tumor_id, tumors, parts, phase)
    if noise:
        hu = blur(hu, acq)
        hu += ct_noise(grid.shape, acq, noise_seed + 2)
    hu = np.clip(np.round(hu), -1024, 3071).astype(np.int16)

    label = liver.astype(np.uint8)
    malignant = [k for k, t in enumerate(tumors, start=1) if t.kind in MALIGNANT]
    label[np.isin(tumor_id, malignant)] = 2  # cysts stay liver (label 1): benign
    voxel_ml = acq.thickness_mm * acq.pixel_mm**2 / 1000.0
    out = []
    for k, t in enumerate(tumors, start=1):
        t.volume_ml = float((tumor_id == k).sum() * voxel_ml)
        out.append(t.as_dict())
    origin = (float(grid.x[0]), float(grid.y[0]), float(grid.z[0] + acq.z_offset_mm))
    identity = draw_identity(r_id, phase, acq.thickness_mm)
    return Phantom(
        hu=hu,
        label=label,
        tumor_id=tumor_id,
        tissue=tissue,
        spacing=(acq.thickness_mm, acq.pixel_mm, acq.pixel_mm),
        origin=origin,
        phase=phase,
        tumors=out,
        identity=identity,
        case_id=f"phantom-{seed}",
        tissue_hu=lut,
        meta={
            "seed": int(seed),
            "matrix": matrix,
            "fov_mm": round(acq.fov_mm, 2),
            "noise_sd": round(acq.noise_sd, 2),
            "liver_ml": round(float(liver.sum() * voxel_ml), 1),
            "liver_ml_drawn": round(float(body.liver_ml), 1),  # the target; a small body fits less
            "liver_span_mm": round(float(np.ptp(grid.z[np.nonzero(liver.any(axis=(1, 2)))[0]]) + acq.thickness_mm), 1),
            "tumor_ml": round(float((label == 2).sum() * voxel_ml), 2),
            "n_lesions": len(malignant),  # tumors (label 2); cysts are counted apart
            "n_cysts": len(out) - len(malignant),
            "cyst_ml": round(float(((tumor_id > 0) & (label == 1)).sum() * voxel_ml), 2),
            "version": PHANTOM_VERSION,
        },
    )


def ct_noise_texture(shape, pixel_mm: float, thickness_mm: float, seed: int) -> np.ndarray:
    """Unit-SD parenchymal texture, correlated over about 1.5 mm in-plane."""
    from scipy import ndimage

    white = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    s = max(0.6, 1.5 / pixel_mm)
    tex = ndimage.gaussian_filter(white, (min(1.0, 3.0 / thickness_mm), s, s))
    return tex / float(tex.std())
