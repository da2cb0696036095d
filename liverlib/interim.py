"""The interim cache: one ``<case_id>.npz`` per decoded study plus ``cases.csv``.

``data/interim/<dataset>/``::

    <case_id>.npz   hu int16 (z, y, x), label uint8 (or an empty array when the
                    study has none), spacing (dz, dy, dx), origin, direction
    cases.csv       case_id, layout, shape, spacing, liver_ml, tumor_ml,
                    n_lesions, contrast_phase, series_skipped, files_dropped,
                    split (additions to DESIGN.md's columns: contrast_phase,
                    from the DICOM descriptions, ``liverlib.contrast_phase``;
                    series_skipped, the other CT series of the study's folder,
                    and files_dropped, e.g. "2 localizer, 1 duplicate copy":
                    what the DICOM reader left out, ``liverlib.dicom_read``)
    sources.json    keyed hash of each source's file list -> case_id (so an
                    unchanged study is skipped; no path is stored)

Everything is written to a temporary name and renamed, so an interrupted
decode never leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from liverlib.atomic import write_bytes, write_json
from liverlib.volume import Volume

CASE_COLUMNS = [
    "case_id", "layout", "shape", "spacing", "liver_ml", "tumor_ml", "n_lesions", "contrast_phase",
    "series_skipped", "files_dropped", "split",
]


def save_case(folder: str | Path, volume: Volume, name: str | None = None) -> Path:
    """Write one Volume as ``<case_id>.npz`` (HU rounded to int16), or as ``<name>.npz``."""
    path = Path(folder) / f"{name or volume.case_id}.npz"
    hu = volume.hu
    if hu.dtype != np.int16:
        hu = np.clip(np.rint(hu), -32768, 32767).astype(np.int16)
    label = volume.label if volume.label is not None else np.zeros((0,), np.uint8)
    # Cysts, when the source marks them: packed bits (an eighth of a uint8 mask), empty otherwise.
    cyst = np.packbits(volume.cyst.astype(bool)) if volume.cyst is not None else np.zeros((0,), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    # Uncompressed: zlib would cost more time than decoding the DICOM files.
    np.savez(
        tmp,
        hu=hu,
        label=label.astype(np.uint8),
        spacing=np.asarray(volume.spacing, float),
        origin=np.asarray(volume.origin, float),
        direction=np.asarray(volume.direction, float),
        cyst=cyst,
    )
    os.replace(tmp, path)
    return path


def has_cyst_record(path: str | Path) -> bool:
    """Whether a cached case was written with its ``cyst`` entry (empty when the source marks no
    cysts); caches written before liverlib kept cysts lack it. Reads the archive's index only."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return "cyst" in data.files
    except (OSError, ValueError):
        return False


def load_case(path: str | Path) -> Volume:
    """Read a cached case back as a Volume (no pickle)."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as data:
        label = data["label"]
        hu = data["hu"]
        packed = data["cyst"] if "cyst" in data.files else np.zeros((0,), np.uint8)  # caches before cysts: none
        cyst = np.unpackbits(packed, count=hu.size).reshape(hu.shape).astype(bool) if packed.size else None
        return Volume(
            hu=hu,
            spacing=tuple(data["spacing"]),
            case_id=path.stem,
            label=label if label.size else None,
            origin=tuple(data["origin"]),
            direction=data["direction"],
            meta={"layout": "interim"},
            cyst=cyst,
        )


def read_cases(folder: str | Path) -> list[dict]:
    """Rows of ``cases.csv`` (numbers parsed), [] when absent."""
    path = Path(folder) / "cases.csv"
    if not path.exists():
        return []
    rows = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            for key in ("liver_ml", "tumor_ml"):
                row[key] = float(row[key]) if row.get(key) not in (None, "") else None
            row["n_lesions"] = int(row["n_lesions"]) if row.get("n_lesions") not in (None, "") else None
            rows.append(row)
    return rows


def write_cases(folder: str | Path, rows: list[dict]) -> Path:
    """Write ``cases.csv`` atomically, in the order given.

    Decode gives the studies' source order (``phantom-000`` first), which the
    slice dataset, the calibration and the evaluation follow: case ids are
    salted per checkout, so an order by id would differ between checkouts.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CASE_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    path = Path(folder) / "cases.csv"
    write_bytes(path, buffer.getvalue().encode())
    return path


def read_sources(folder: str | Path) -> dict:
    path = Path(folder) / "sources.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_sources(folder: str | Path, sources: dict) -> None:
    write_json(Path(folder) / "sources.json", sources, indent=1, sort_keys=True)
