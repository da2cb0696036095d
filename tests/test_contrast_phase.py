import pydicom
import pytest

from liverlib.contrast_phase import contrast_phase, phase_from_text


@pytest.mark.parametrize("text, phase", [
    ("PORTAL VENOUS 5.0MM", "portal venous"),
    ("ABD PV 3mm", "portal venous"),
    ("Venous Phase  1.25", "portal venous"),
    ("ART 1.25", "arterial"),
    ("LATE ARTERIAL B30f", "arterial"),
    ("NON CONTRAST 5.0MM", "unenhanced"),
    ("ABD/PEL W/O CONTRAST", "unenhanced"),
    ("Nativ 5mm", "unenhanced"),
    ("DELAYED VENOUS", "delayed"),
    ("EQUILIBRIUM_3MM", "delayed"),
    ("CT ABDOMEN 5.0MM", None),
    ("PARTIAL", None),  # "ART" inside a word is not a phase
])
def test_phase_from_text(text, phase):
    assert phase_from_text(text) == phase


def _ds(**kw):
    ds = pydicom.Dataset()
    for key, value in kw.items():
        setattr(ds, key, value)
    return ds


def test_contrast_phase_falls_back_to_the_contrast_agent():
    assert contrast_phase(_ds(SeriesDescription="CT ABDOMEN", ProtocolName="LIVER 3 PHASE ART")) == "arterial"
    assert contrast_phase(_ds(SeriesDescription="CT ABDOMEN", ContrastBolusAgent="IODINATED")) == "enhanced, phase not stated"
    assert contrast_phase(_ds(SeriesDescription="CT ABDOMEN", ContrastBolusAgent="")) == "unknown"
    assert contrast_phase(_ds()) == "unknown"
