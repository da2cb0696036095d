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
import secrets

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
