"""The contrast phase of a CT series, read from its header's descriptions.

A liver lesion's contrast to the liver depends on the phase: a metastasis is
40-60 HU darker than portal venous liver (100-130 HU), a hepatocellular
carcinoma brighter than arterial liver, and without contrast lesions, vessels
and liver lie within 20 HU of each other (liver 55-65 HU). DICOM has no
standard element for the phase, so it is read, as PACS hanging protocols do,
from the words of ``SeriesDescription`` ("PORTAL VENOUS 5.0MM", "ART 1.25",
"NON CON"); ``ProtocolName`` only when the description names no phase (a
protocol is named once per exam, "LIVER NON CON/ART/PV", and would give every
series of a multiphase exam the same phase); then ``ContrastBolusAgent``,
which tells an intravenous contrast series from a plain one. A text that names
two phases ("ART + PV", "PV 70s delay") names none. Only the phase leaves this
module: the free-text descriptions, which may hold anything, are never stored.

Wrong labels are possible on real data (a site's private abbreviations);
the phantoms write their phase into the series description, so on them the
phase is always right.
"""

from __future__ import annotations

import re

#: The values :func:`contrast_phase` returns.
PHASES = ("portal venous", "arterial", "delayed", "unenhanced", "enhanced, phase not stated", "unknown")

# Phrases that mention contrast both ways: an exam with and without, no phase.
_BOTH_WAYS = re.compile(r"\b(W/?\s*(AND|\+|&|/)?\s*W/?O|WITH\s*(AND|\+|&|/)\s*WITHOUT)\b")
_RULES = {
    "unenhanced": r"\b(NON[ -]?CON(TRAST)?|NON[ -]?ENHANCED|NO[ -]CONTRAST|WITHOUT CONTRAST|W/?O CONTRAST|"
                  r"UNENHANCED|PLAIN|NATIVE?|NECT|NCCT|NC|N/C|PRE[ -]?CON(TRAST)?)\b",
    "arterial": r"\b(ARTERIAL|ARTERIELL|ART|LATE ART(ERIAL)?|EARLY ART(ERIAL)?|HAP)\b",
    "portal venous": r"\b(PORTAL|PORTAL[ -]?VENOUS|PV|PVP|VENOUS|VEN(OE|Ö)S)\b",
    "delayed": r"\b(DELAY(ED)?|EQUILIBRIUM|EXCRETORY)\b",
}
# Agent values that say no (intravenous) agent was given.
_NO_AGENT = re.compile(r"^(NONE( GIVEN)?|NO( CONTRAST)?|N|N/A|NA|-+|0|ORAL.*|GASTROGRAFIN.*|BARIUM.*)$")


def phase_order(phases) -> list[str]:
    """The distinct phases among ``phases`` in :data:`PHASES` order, others after (sorted).

    Args:
        phases: Phase values, e.g. ``cases.csv``'s column; empty or None reads as ``"unknown"``.

    Returns:
        e.g. ``["portal venous", "unenhanced", "unknown"]``.
    """
    present = {p or "unknown" for p in phases}
    return [p for p in PHASES if p in present] + sorted(present - set(PHASES))


def phase_from_text(text: str) -> str | None:
    """The one phase a description names, or None (no phase, or more than one).

    Args:
        text: e.g. ``"PORTAL VENOUS 5.0MM"``.

    Returns:
        One of the first four :data:`PHASES`, e.g. ``"portal venous"``, or None
        (``"ART + PV"``, ``"CT ABD W/WO CONTRAST"``, ``"CT ABDOMEN"``).
    """
    text = _BOTH_WAYS.sub(" ", str(text or "").upper().replace("_", " "))
    named = [phase for phase, pattern in _RULES.items() if re.search(pattern, text)]
    return named[0] if len(named) == 1 else None


def contrast_phase(ds) -> str:
    """The contrast phase of one DICOM dataset (any slice of the series).

    Args:
        ds: A ``pydicom.Dataset``.

    Returns:
        One of :data:`PHASES`: the phase ``SeriesDescription`` names, else the
        one ``ProtocolName`` names; else ``"enhanced, phase not stated"`` where
        ``ContrastBolusAgent`` names an intravenous agent (``ContrastBolusRoute``
        not oral), ``"unenhanced"`` where the agent's text says none was given
        ("NO CONTRAST"); else ``"unknown"`` (an empty agent is not proof of a
        plain scan: many scanners leave it empty).
    """
    for key in ("SeriesDescription", "ProtocolName"):
        named = phase_from_text(str(ds.get(key, "") or ""))
        if named:
            return named
    agent = str(ds.get("ContrastBolusAgent", "") or "").strip().upper()
    route = str(ds.get("ContrastBolusRoute", "") or "").strip().upper()
    if not agent or route.startswith("ORAL"):
        return "unknown"
    if _NO_AGENT.match(agent):
        return "unenhanced" if phase_from_text(agent) == "unenhanced" else "unknown"
    return "enhanced, phase not stated"
