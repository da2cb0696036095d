import pydicom
import pytest

from liverlib.contrast_phase import contrast_phase, phase_from_text


@pytest.mark.parametrize("text, phase", [
    ("PORTAL VENOUS 5.0MM", "portal venous"),
    ("ABD PV 3mm", "portal venous"),
    ("Portal Venous 3.0 B30f", "portal venous"),
    ("ART 1.25", "arterial"),
    ("LATE ARTERIAL B30f", "arterial"),
    ("NON CONTRAST 5.0MM", "unenhanced"),
    ("Non-enhanced", "unenhanced"),
    ("ABD/PEL W/O CONTRAST", "unenhanced"),
    ("Nativ 5mm", "unenhanced"),
    ("Delayed 3 min", "delayed"),
    ("EQUILIBRIUM_3MM", "delayed"),
    # No phase, or more than one: none is claimed.
    ("CT ABDOMEN 5.0MM", None),
    ("PARTIAL", None),  # "ART" inside a word is not a phase
    ("LIVER NON CON/ART/PV", None),  # a multiphase protocol
    ("ART + PV", None),
    ("PV 70s delay", None),
    ("CT ABD PELVIS W WO CONTRAST", None),  # with and without: not "without"
    ("CT ABDOMEN W/ AND W/O CONTRAST", None),
    ("Lap chole", None),
    ("CT URO", None),
])
def test_phase_from_text(text, phase):
    assert phase_from_text(text) == phase


def _ds(**kw):
    ds = pydicom.Dataset()
    for key, value in kw.items():
        setattr(ds, key, value)
    return ds


def test_the_series_description_wins_over_the_exams_protocol():
    # Every series of a multiphase exam shares its protocol name; each series names its own phase.
    assert contrast_phase(_ds(SeriesDescription="Portal Venous 5mm", ProtocolName="LIVER NON CON")) == "portal venous"
    assert contrast_phase(_ds(SeriesDescription="CT ABDOMEN", ProtocolName="LIVER 3 PHASE ART")) == "arterial"


@pytest.mark.parametrize("agent, route, phase", [
    ("IODINATED", "", "enhanced, phase not stated"),
    ("OMNIPAQUE 350", "IV", "enhanced, phase not stated"),
    ("GASTROGRAFIN", "ORAL", "unknown"),  # oral contrast only says nothing about the liver's phase
    ("NO CONTRAST", "", "unenhanced"),
    ("NONE", "", "unknown"),
    ("N/A", "", "unknown"),
    ("", "", "unknown"),  # many scanners leave it empty
])
def test_the_contrast_agent_when_no_description_names_a_phase(agent, route, phase):
    ds = _ds(SeriesDescription="CT ABDOMEN", ContrastBolusAgent=agent, ContrastBolusRoute=route)
    assert contrast_phase(ds) == phase
    assert contrast_phase(_ds()) == "unknown"


@pytest.mark.parametrize("name, phase", [
    ("CT_small.dcm", "enhanced, phase not stated"),  # no description; ContrastBolusAgent "ISOVUE300/100", route IV
    ("693_J2KI.dcm", "unenhanced"),  # series description "5/5mm Plain"
])
def test_real_ct_headers_from_pydicoms_wheel(name, phase):
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not in this pydicom's wheel"
    assert contrast_phase(pydicom.dcmread(path, stop_before_pixels=True)) == phase


def test_phase_order_follows_phases_then_others():
    from liverlib.contrast_phase import phase_order

    assert phase_order(["unknown", "", None, "unenhanced", "portal venous", "unenhanced", "venous-ish"]) == [
        "portal venous", "unenhanced", "unknown", "venous-ish"]
