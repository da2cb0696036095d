"""Acquisition: field of view, pixel spacing, slice thickness, blur and noise.

* Field of view fitted to the body (widest diameter + 30-50 mm), 300-500 mm.
  At ``matrix=512`` this gives the in-plane spacing of clinical abdominal CT,
  0.6-0.95 mm; the default ``matrix=256`` samples the same field of view at
  twice the spacing (1.2-1.9 mm), the size most 2D segmentation networks
  are trained at anyway (LiTS/nnU-Net pipelines resample to about 1.5 mm),
  and it is four times faster to generate, write and decode.
* Slice thickness: 5 mm at 256 (the thick reconstruction every abdominal CT
  also sends; it keeps the demo cohort of 48 studies at about 45 s on 2
  cores, against about 53 s with a third of them at 3 mm, and the slice
  dataset resamples to 1.6 mm and then to about 2.7 mm pixels anyway; in our
  runs the thinner cohort did not train a measurably better model);
  1.25-5 mm at 512 (clinical abdominal protocols reconstruct 0.6-5 mm;
  Kalra et al., Radiology 2004;230:619-628).
* Partial volume: the clean image is blurred by the system PSF (in-plane
  FWHM about 1 mm) and the slice profile.
* Noise: 8-25 HU SD in soft tissue, larger in large patients, with the
  band-pass grain of filtered back-projection (white noise filtered by a
  ramp-times-window-like kernel, whose noise power spectrum peaks at mid
  frequencies; Boedeker, Cooper & McNitt-Gray, Phys Med Biol
  2007;52:4027-4046).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from liverlib.phantom.anatomy import Body
from liverlib.phantom.geometry import Grid

MATRICES = (256, 512)
#: Reconstructed slice thicknesses (mm) per matrix: thin ones only at 512.
THICKNESS = {256: (5.0,), 512: (1.25, 2.5, 3.0, 5.0)}


@dataclass
class Acquisition:
    """How one phantom is scanned.

    Args:
        matrix: Rows = columns, 256 or 512.
        fov_mm: Reconstruction field of view, e.g. 380.
        thickness_mm: Slice thickness = spacing, e.g. 5.0.
        noise_sd: Target noise SD in HU, e.g. 14.
        centre_mm: Body-frame (y, x) of the field-of-view centre (the patient
            lies slightly off the isocentre).
        z_offset_mm: LPS z of the body-frame ``Z = 0`` (table position).
    """

    matrix: int
    fov_mm: float
    thickness_mm: float
    noise_sd: float
    centre_mm: tuple[float, float]
    z_offset_mm: float

    @property
    def pixel_mm(self) -> float:
        return self.fov_mm / self.matrix


def draw_acquisition(body: Body, matrix: int, rng: np.random.Generator, thickness: float | None = None) -> Acquisition:
    """Draw the scan of one patient; ``thickness`` overrides the drawn value."""
    if matrix not in MATRICES:
        raise ValueError(f"matrix must be one of {MATRICES}, got {matrix}")
    fov = float(np.clip(2 * max(body.a, body.b + 20) + rng.uniform(30, 50), 300, 500))
    size = 2 * (body.a + body.b)  # larger patients -> noisier images
    noise = float(np.clip(rng.uniform(8, 14) * np.exp((size - 500) / 300), 8, 25))
    dz = float(rng.choice(THICKNESS[matrix])) if thickness is None else float(thickness)
    return Acquisition(
        matrix=matrix,
        fov_mm=fov,
        thickness_mm=dz,
        noise_sd=noise,
        centre_mm=(float(rng.uniform(5, 20)), float(rng.uniform(-10, 10))),
        z_offset_mm=float(rng.uniform(-350, -150)),
    )


def make_grid(body: Body, acq: Acquisition) -> Grid:
    """Voxel centres in body-frame mm covering the FOV and lung bases to kidneys."""
    px = acq.pixel_mm
    n = acq.matrix
    offs = (np.arange(n) - (n - 1) / 2) * px
    nz = int(np.ceil((body.z_top - body.z_bottom) / acq.thickness_mm)) + 1
    z = body.z_bottom + np.arange(nz) * acq.thickness_mm
    return Grid(
        z=z.astype(np.float32),
        y=(acq.centre_mm[0] + offs).astype(np.float32),
        x=(acq.centre_mm[1] + offs).astype(np.float32),
    )


def blur(hu: np.ndarray, acq: Acquisition) -> np.ndarray:
    """Partial-volume blur: in-plane PSF (FWHM ~1 mm, at least 0.45 px) and slice profile."""
    s_xy = max(0.45, 0.42 / acq.pixel_mm)  # sigma in pixels
    return ndimage.gaussian_filter(hu, sigma=(0.35, s_xy, s_xy), mode="nearest")


def ct_noise(shape, acq: Acquisition, seed: int) -> np.ndarray:
    """Correlated CT noise with SD ``acq.noise_sd`` and a band-pass grain.

    White noise is filtered in-plane by a difference of Gaussians (a mid-
    frequency peak as in an FBP soft-tissue kernel), about 0.6 and 1.8 mm
    wide, then rescaled to the target SD.
    """
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(shape, dtype=np.float32)
    s1 = max(0.5, 0.6 / acq.pixel_mm)
    s2 = 3 * s1
    n = ndimage.gaussian_filter(white, (0, s1, s1)) - 0.7 * ndimage.gaussian_filter(white, (0, s2, s2))
    n *= acq.noise_sd / float(n.std())
    return n
