"""Plausible but fake patient identity, so de-identification is always exercised.

Every value is invented from the seed: names come from short lists of common
given and family names, IDs and accession numbers are random digits, and the
institutions are fictitious. None describes a real person.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

_GIVEN_F = ["ANNA", "MARIA", "LAURA", "SOPHIE", "ELENA", "JULIA", "CLARA", "EMMA", "HANNA", "IRIS", "NORA", "OLGA"]
_GIVEN_M = ["JOHN", "PETER", "MARC", "LUCAS", "DAVID", "PAUL", "KARL", "IVAN", "OMAR", "HUGO", "TOMAS", "LEON"]
_FAMILY = [
    "MILLER", "GARCIA", "MARTIN", "MUELLER", "ROSSI", "NOVAK", "DUBOIS", "JANSEN", "SILVA", "KOWALSKI",
    "FISCHER", "BERG", "MORENO", "LAURENT", "WEBER", "HOLM", "PETROV", "COSTA", "BAKER", "NGUYEN",
]
_INSTITUTIONS = [
    "Riverside General Hospital", "St. Aldric University Clinic", "Northfield Medical Centre",
    "Lakeview Regional Hospital", "Hillcrest Teaching Hospital", "Eastbrook Cancer Institute",
]


def draw_identity(rng: np.random.Generator, phase: str, thickness_mm: float) -> dict:
    """A fake DICOM identity for one patient.

    Args:
        rng: The patient's identity generator.
        phase: Contrast phase, for the descriptions.
        thickness_mm: Slice thickness, for the series description.

    Returns:
        DICOM keyword -> value, e.g. ``{"PatientName": "NOVAK^ANNA",
        "PatientID": "PH48213907", "PatientSex": "F", "PatientAge": "063Y", ...}``.
    """
    sex = "F" if rng.uniform() < 0.45 else "M"
    given = rng.choice(_GIVEN_F if sex == "F" else _GIVEN_M)
    family = rng.choice(_FAMILY)
    study = dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 3650)))
    age = int(np.clip(rng.normal(62, 11), 25, 90))
    birth = study - dt.timedelta(days=int(age * 365.25 + rng.integers(0, 365)))
    age = (study - birth).days // 365  # consistent with the dates
    doctor = f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN_F + _GIVEN_M)}"
    desc = {"portal_venous": "PORTAL VENOUS", "arterial": "ARTERIAL", "unenhanced": "NON CONTRAST"}[phase]
    study_date = study.strftime("%Y%m%d")
    return {
        "PatientName": f"{family}^{given}",
        "PatientID": f"PH{int(rng.integers(10**7, 10**8))}",
        "PatientBirthDate": birth.strftime("%Y%m%d"),
        "PatientSex": sex,
        "PatientAge": f"{age:03d}Y",
        "InstitutionName": str(rng.choice(_INSTITUTIONS)),
        "AccessionNumber": f"A{int(rng.integers(10**9, 10**10))}",
        "StudyDate": study_date,
        "SeriesDate": study_date,
        "AcquisitionDate": study_date,
        "ContentDate": study_date,
        "StudyTime": f"{int(rng.integers(7, 19)):02d}{int(rng.integers(0, 60)):02d}{int(rng.integers(0, 60)):02d}",
        "ReferringPhysicianName": doctor,
        "StudyDescription": "CT ABDOMEN" + (" WITH CONTRAST" if phase != "unenhanced" else ""),
        "SeriesDescription": f"{desc} {thickness_mm:.2f}MM".replace(".00MM", ".0MM"),
        "StudyID": str(int(rng.integers(1, 9999))),
    }
