"""The contrast phase of a CT series, read from its header's descriptions.

A liver lesion's contrast to the liver depends on the phase: a metastasis is
40-60 HU darker than portal venous liver (100-130 HU), a hepatocellular
carcinoma brighter than arterial liver, and without contrast lesions, vessels
and liver lie within 20 HU of each other (liver 55-65 HU). DICOM has no
standard element for the phase, so it is read, as radiologists and PACS
hanging protocols do, from the words of ``SeriesDescription`` and
``ProtocolName`` ("PORTAL VENOUS 5.0MM", "ART 1.25", "NON CON"), with
``ContrastBolusAgent`` telling an enhanced series from an unenhanced one when
no word names the phase. Only the phase leaves this module: the free-text
descriptions, which may hold anything, are never stored.
"""

from __future__ import annotations

import re

#: The values :func:`contrast_phase` returns.
PHASES = ("portal venous", "arterial", "delayed", "unenhanced", "enhanced, phase not stated", "unknown")

# Checked in this order: "NON CONTRAST" is unenhanced whatever else the text
# says, "LATE ARTERIAL" arterial before "LATE" is delayed, and "DELAYED VENOUS"
# delayed before "VENOUS" is portal venous.
_RULES = (
    ("unenhanced", r"\b(NON[ -]?CON(TRAST)?|NO[ -]CONTRAST|WITHOUT CONTRAST|W/?O CONTRAST|UNENHANCED|"
                   r"PLAIN|NATIVE?|NECT|PRE[ -]?CONTRAST|PRE[ -]?CON)\b"),
    ("arterial", r"\b(ARTERIAL|ART|LATE ART(ERIAL)?|EARLY ART(ERIAL)?|HAP|LAP|AP PHASE)\b"),
    ("delayed", r"\b(DELAY(ED)?|EQUILIBRIUM|LATE|EXCRETORY|URO(GRAPHIC)?)\b"),
    ("portal venous", r"\b(PORTAL|PORTAL[ -]?VENOUS|PV|PVP|VENOUS)\b"),
)


def phase_from_text(*texts: str) -> str | None:
    """The phase the words of some descriptions name, or None.

    Args:
        texts: e.g. ``("PORTAL VENOUS 5.0MM", "ABDOMEN PELVIS")``.

    Returns:
        One of the first four :data:`PHASES`, e.g. ``"portal venous"``, or None.
    """
    text = " ".join(t for t in texts if t).upper().replace("_", " ")
    for phase, pattern in _RULES:
        if re.search(pattern, text):
            return phase
    return None


def contrast_phase(ds) -> str:
    """The contrast phase of one DICOM dataset (any slice of the series).

    Args:
        ds: A ``pydicom.Dataset``.

    Returns:
        One of :data:`PHASES`: the phase a description names; else
        ``"enhanced, phase not stated"`` where ``ContrastBolusAgent`` names an
        agent; else ``"unknown"`` (an empty or missing agent is not proof of
        an unenhanced scan: many scanners leave it empty).
    """
    named = phase_from_text(str(ds.get("SeriesDescription", "") or ""), str(ds.get("ProtocolName", "") or ""))
    if named:
        return named
    agent = str(ds.get("ContrastBolusAgent", "") or "").strip().upper()
    if agent and agent not in {"NONE", "NO", "N", "0"}:
        return "enhanced, phase not stated"
    return "unknown"
