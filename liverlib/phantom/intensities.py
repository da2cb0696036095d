"""Tissue codes and their CT numbers per contrast phase, from published ranges.

Each phantom draws one mean HU per tissue, uniformly inside the range of its
phase, so the cohort spans the published variation. Sources:

* Liver unenhanced 50-70 HU, spleen about 8-10 HU lower; portal venous liver
  100-130 HU: Boll & Merkle, RadioGraphics 2009;29:1591-1614; Kodama et al.,
  AJR 2007;188:1307-1312.
* Aorta 250-350 HU arterial, 150-200 HU portal venous; portal vein 150-200 HU;
  scan timing: Bae, Radiology 2010;256:32-61.
* Kidney cortex 150-200 HU (corticomedullary/nephrographic), medulla lower in
  the arterial phase: Yuh & Cohan, AJR 1999;173:747-755.
* Muscle 40-60, fat -120 to -80, water/bile 0-20, lung -850 to -900, air
  -1000, cancellous bone 150-300, cortical bone 500-1000: Brooks, J Comput
  Assist Tomogr 1977;1:191-195; Radiopaedia "Hounsfield unit".
* Bowel: wall 2-3 mm, enhancing to about 90-130 HU portal venous; fluid
  0-20 HU; stool mottled about -500..+50 HU (stool -150..0 HU with 90 HU
  grain, plus gas bubbles): Horton & Fishman, RadioGraphics 2000;20:1389-1410;
  Macari & Megibow, Radiology 2001;218:333-341.
* Hypodense metastases 40-80 HU portal venous: Sica et al., AJR
  2000;174:691-698. HCC arterial hyperenhancement and washout with capsule:
  Choi, Lee & Sirlin, Radiology 2014;272:635-654. Simple cysts 0-20 HU, sharp:
  Mortele & Ros, RadioGraphics 2001;21:895-910.
"""

from __future__ import annotations

import numpy as np

PHASES = ("portal_venous", "arterial", "unenhanced")
#: Cohort mix: mostly portal venous, some arterial, a few unenhanced.
PHASE_P = (0.7, 0.2, 0.1)

# Tissue codes of the phantom's tissue map (uint8).
AIR, SKIN, SUBCUT_FAT, MUSCLE, VISCERAL_FAT = 0, 1, 2, 3, 4
CANCELLOUS, CORTICAL, DISC, CSF, LUNG = 5, 6, 7, 8, 9
AORTA, IVC, PORTAL_VEIN, HEPATIC_VEIN, LIVER = 10, 11, 12, 13, 14
SPLEEN, KIDNEY_CORTEX, KIDNEY_MEDULLA, GUT_WALL, GUT_FLUID = 15, 16, 17, 18, 19
GUT_GAS, GALLBLADDER, HEART, TABLE, TABLE_FOAM = 20, 21, 22, 23, 24
STOOL, PANCREAS = 25, 26
N_TISSUES = 27

NAMES = {
    AIR: "air", SKIN: "skin", SUBCUT_FAT: "subcutaneous fat", MUSCLE: "muscle",
    VISCERAL_FAT: "visceral fat", CANCELLOUS: "cancellous bone", CORTICAL: "cortical bone",
    DISC: "disc", CSF: "csf", LUNG: "lung", AORTA: "aorta", IVC: "ivc",
    PORTAL_VEIN: "portal vein", HEPATIC_VEIN: "hepatic vein", LIVER: "liver",
    SPLEEN: "spleen", KIDNEY_CORTEX: "kidney cortex", KIDNEY_MEDULLA: "kidney medulla",
    GUT_WALL: "gut wall", GUT_FLUID: "gut fluid", GUT_GAS: "gut gas",
    GALLBLADDER: "gallbladder", HEART: "heart", TABLE: "table", TABLE_FOAM: "table foam",
    STOOL: "stool", PANCREAS: "pancreas",
}

_STATIC = {  # phase-independent ranges (HU)
    AIR: (-1000, -1000), SKIN: (20, 50), SUBCUT_FAT: (-120, -80), VISCERAL_FAT: (-120, -80),
    CANCELLOUS: (150, 300), CORTICAL: (500, 1000), DISC: (70, 100), CSF: (0, 15),
    LUNG: (-900, -850), GUT_FLUID: (0, 20), GUT_GAS: (-1000, -980), GALLBLADDER: (0, 20),
    TABLE: (150, 300), TABLE_FOAM: (-950, -900), STOOL: (-150, 0),
}

#: (low, high) HU of enhancing tissues: portal venous, arterial, unenhanced.
HU_RANGES = {
    "portal_venous": {
        MUSCLE: (45, 60), LIVER: (100, 130), AORTA: (150, 200), IVC: (120, 170),
        PORTAL_VEIN: (150, 200), HEPATIC_VEIN: (140, 190), KIDNEY_CORTEX: (150, 200),
        KIDNEY_MEDULLA: (140, 190), GUT_WALL: (90, 130), HEART: (140, 190), PANCREAS: (90, 120),
    },
    "arterial": {
        MUSCLE: (40, 60), LIVER: (65, 90), AORTA: (250, 350), IVC: (60, 100),
        PORTAL_VEIN: (90, 140), HEPATIC_VEIN: (50, 80), KIDNEY_CORTEX: (170, 230),
        KIDNEY_MEDULLA: (60, 100), GUT_WALL: (80, 120), HEART: (220, 320), PANCREAS: (110, 150),
    },
    "unenhanced": {
        MUSCLE: (40, 55), LIVER: (50, 70), AORTA: (35, 50), IVC: (35, 50),
        PORTAL_VEIN: (35, 50), HEPATIC_VEIN: (35, 50), KIDNEY_CORTEX: (30, 40),
        KIDNEY_MEDULLA: (25, 35), GUT_WALL: (30, 45), HEART: (35, 50), PANCREAS: (35, 50),
    },
}

#: Spleen relative to liver (HU): ~10 below unenhanced, similar or higher enhanced.
SPLEEN_MINUS_LIVER = {"portal_venous": (-2, 12), "arterial": (25, 50), "unenhanced": (-12, -7)}

#: Texture SD (HU) of the parenchymal grain inside each tissue, before noise.
TEXTURE_SD = np.zeros(N_TISSUES, np.float32)
for _code, _sd in {
    SKIN: 4, SUBCUT_FAT: 6, VISCERAL_FAT: 8, MUSCLE: 5, CANCELLOUS: 35, CORTICAL: 60, DISC: 5,
    LUNG: 20, LIVER: 5, SPLEEN: 5, KIDNEY_CORTEX: 6, KIDNEY_MEDULLA: 6, GUT_WALL: 6,
    GUT_FLUID: 3, STOOL: 90, PANCREAS: 10, HEART: 5,
}.items():
    TEXTURE_SD[_code] = _sd

#: Lesion HU (low, high) by kind and phase: metastasis, HCC, cyst, plus parts.
LESION_HU = {
    "metastasis": {"portal_venous": (40, 80), "arterial": (45, 70), "unenhanced": (30, 45)},
    "hcc": {"portal_venous": (80, 100), "arterial": (100, 140), "unenhanced": (35, 48)},
    "cyst": {"portal_venous": (0, 20), "arterial": (0, 20), "unenhanced": (0, 20)},
    "necrosis": {"portal_venous": (10, 25), "arterial": (10, 25), "unenhanced": (10, 25)},
    "rim": {"portal_venous": (110, 140), "arterial": (90, 120), "unenhanced": (40, 50)},
}


def draw_phase(rng: np.random.Generator) -> str:
    """One contrast phase: portal venous 70 %, arterial 20 %, unenhanced 10 %."""
    return str(rng.choice(PHASES, p=PHASE_P))


def draw_tissue_hu(phase: str, rng: np.random.Generator) -> np.ndarray:
    """Mean HU of every tissue code for one patient in ``phase``.

    Args:
        phase: One of ``PHASES``.
        rng: The patient's generator.

    Returns:
        float32 lookup table indexed by tissue code, e.g. ``lut[LIVER]`` is
        about 115 HU portal venous, 60 HU unenhanced.
    """
    lut = np.zeros(N_TISSUES, np.float32)
    ranges = dict(_STATIC)
    ranges.update(HU_RANGES[phase])
    for code in range(N_TISSUES):
        if code in ranges:
            lo, hi = ranges[code]
            lut[code] = rng.uniform(lo, hi)
    lo, hi = SPLEEN_MINUS_LIVER[phase]
    lut[SPLEEN] = lut[LIVER] + rng.uniform(lo, hi)
    return lut


def spleen_range(phase: str, liver_hu: float) -> tuple[float, float]:
    """Allowed spleen HU given the patient's liver HU (for tests and docs)."""
    lo, hi = SPLEEN_MINUS_LIVER[phase]
    return liver_hu + lo, liver_hu + hi
