"""Pseudonymous case ids and the whitelist of header facts that may be kept.

A case id is a keyed hash (HMAC-SHA256) of the study's own identity (its
Study and Series Instance UIDs, or a NIfTI file name) under a per-project
secret salt. The salt lives in ``.liverlib-salt`` at the project root (git
ignores it) or in the ``LIVERLIB_SALT`` environment variable, so the same
study always gets the same id here, and nobody without the salt can link an
id back to a UID. Users may give their own pseudonym instead.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from liverlib.paths import project_root

SALT_ENV = "LIVERLIB_SALT"
SALT_FILE = ".liverlib-salt"

#: DICOM keywords that describe the acquisition, not the patient. Everything
#: else (names, IDs, dates, institution, descriptions...) is dropped.
TECHNICAL_KEYWORDS = (
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "KVP",
    "ConvolutionKernel",
    "SliceThickness",
    "PhotometricInterpretation",
    "BitsStored",
    "PatientPosition",
)


def project_salt() -> bytes:
    """The secret salt: from LIVERLIB_SALT, else .liverlib-salt (created once)."""
    env = os.environ.get(SALT_ENV)
    if env:
        return env.encode()
    path = project_root() / SALT_FILE
    if not path.exists():
        tmp = path.with_name(f"{SALT_FILE}.{os.getpid()}.tmp")
        tmp.write_text(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic and never overwrites a salt already made
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip().encode()


def pseudonym(*identity: str, prefix: str = "case") -> str:
    """A stable, non-reversible case id such as ``ct-3f9a1c07b2``.

    Args:
        identity: Strings that identify the study (UIDs, a file name).
        prefix: Short layout tag put in front (``ct``, ``ircadb``, ``lits``...).

    Returns:
        ``<prefix>-<10 hex digits>``.
    """
    digest = hmac.new(project_salt(), "\x1f".join(identity).encode(), hashlib.sha256)
    return f"{prefix}-{digest.hexdigest()[:10]}"


def technical_meta(ds) -> dict:
    """Keep only whitelisted, non-identifying header facts of a dataset."""
    meta = {}
    for key in TECHNICAL_KEYWORDS:
        value = ds.get(key)
        if value is None or value == "":
            continue
        meta[key] = value if isinstance(value, (int, float)) else str(value)
    return meta


# File and folder names a reason may keep with study names hidden: the layouts' own names and
# numbered scanner-style files (IM0007, image_12.dcm, 00017). Others (SMITH_ANNA_003.dcm,
# smith_001.nii.gz) may be identifiers.
NEUTRAL_NAME = re.compile(
    r"^(PATIENT_DICOM|MASKS_DICOM|DICOMDIR|imagesTr|labelsTr|imagesTs|dataset\.json|liver|livertumor\d*"
    r"|(volume|segmentation)-\d+\.nii(\.gz)?|liver_\d+\.nii(\.gz)?"
    r"|(IM|IMG|I|image|CT|slice)?[_-]?\d+(\.dcm)?)$",
    re.IGNORECASE,
)


def scrub_file_names(reason: str, study: Path, parts: tuple = ()) -> str:
    """``reason`` with every name of a file or folder of ``study`` (and beside a study file), and of
    the folders ``parts`` on its way from the source, that may identify the patient replaced by ``<file>``.

    Args:
        reason: An error message, e.g. ``same slice position as SMITH_ANNA_003.dcm``.
        study: The study's folder or file.
        parts: Folder names between the source and the study.

    Returns:
        The message with such names replaced; ``IM0007`` or ``segmentation-3.nii`` stay.
    """
    root = study if study.is_dir() else study.parent
    try:
        names = {p.name for p in root.rglob("*")} | {study.name} | set(parts)
    except OSError:
        return reason
    # Names under 3 characters are left: they would hit words ("slice(s)") more often than people.
    risky = (n for n in names if len(n) >= 3 and n in reason and not NEUTRAL_NAME.match(n))
    for name in sorted(risky, key=len, reverse=True):
        reason = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", "<file>", reason)
    return reason
