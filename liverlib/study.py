"""``read_study``: one entry point for every CT study layout.

Recognised layouts (see DESIGN.md):

* ``dicom``: a folder of DICOM CT files (any names, nested folders) or one file;
* ``ircadb``: a 3D-IRCADb case folder with ``PATIENT_DICOM/`` and
  ``MASKS_DICOM/liver/``, ``MASKS_DICOM/livertumor*/`` (tumors united into
  label 2), ``MASKS_DICOM/liverkyst*/`` or ``livercyst*/`` (benign cysts:
  liver, label 1); the archive's nested ``PATIENT_DICOM/PATIENT_DICOM`` works too;
* ``lits``: ``volume-N.nii[.gz]`` with ``segmentation-N.nii[.gz]`` beside it;
* ``msd``: ``imagesTr/liver_N.nii.gz`` with ``../labelsTr/liver_N.nii.gz``
  (Decathlon Task03 Liver: checked against the ``dataset.json`` beside
  ``imagesTr/``, assumed when there is none);
* ``nifti``: any other 3D NIfTI image, without label.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np

from liverlib.deid import pseudonym
from liverlib.errors import GeometryMismatchError, LabelValueError, StudyError, UnknownLayoutError
from liverlib.volume import LIVER, TUMOR, Volume

log = logging.getLogger(__name__)

LITS_IMAGE = re.compile(r"^volume-(\d+)\.nii(\.gz)?$")
NIFTI = re.compile(r"^.+\.nii(\.gz)?$")
# Geometry of a mask must match its image to this tolerance (mm).
GRID_TOL_MM = 0.05
# Names an MSD dataset.json may give label 2, which liverlib reads as tumor (label 1 must be "liver").
MSD_TUMOR = re.compile(r"(?<![a-z])(tumou?rs?|cancers?|lesions?)(?![a-z])")


def detect_layout(path: str | Path) -> str:
    """Name the layout of ``path``: dicom, ircadb, lits, msd or nifti."""
    path = Path(path)
    if not path.exists():
        raise StudyError(path, "does not exist")
    if path.is_dir():
        if (path / "PATIENT_DICOM").is_dir():
            return "ircadb"
        return "dicom"
    name = path.name
    if LITS_IMAGE.match(name):
        return "lits"
    if NIFTI.match(name):
        return "msd" if path.parent.name == "imagesTr" else "nifti"
    return "dicom"


def read_study(path: str | Path, case_id: str | None = None) -> Volume:
    """Decode one CT study into a Volume (HU, canonical LPS, label 0/1/2).

    Args:
        path: A DICOM folder or file, a 3D-IRCADb case folder, a LiTS
            ``volume-N.nii.gz`` or an MSD ``imagesTr/liver_N.nii.gz``. An MSD
            task whose ``dataset.json`` does not name label 1 the liver and
            label 2 a tumor is refused; without ``dataset.json`` the task is
            taken as Task03 Liver.
        case_id: A pseudonym to use; default is a keyed hash of the study's
            identity (see :mod:`liverlib.deid`).

    Returns:
        The Volume. Its ``hu`` is (z, y, x) with air near -1000 HU and
        enhanced liver near 100-130 HU; ``label`` is uint8 or None.

    Raises:
        StudyError: A subclass naming the file and the reason.
    """
    path = Path(path)
    layout = detect_layout(path)
    if layout == "dicom":
        return _read_dicom(path, case_id)
    if layout == "ircadb":
        return _read_ircadb(path, case_id)
    if layout == "msd":
        check_msd_task(path)
    return _read_nifti(path, layout, case_id)


def _volume(hu, spacing, origin, direction, label, info, layout, case_id, prefix, cyst=None) -> Volume:
    uids = info.pop("_uids", None)
    if case_id is None:
        case_id = pseudonym(*(uids or ()), prefix=prefix)
    info["layout"] = layout
    return Volume(hu=hu, spacing=spacing, case_id=case_id, label=label, origin=origin, direction=direction, meta=info,
                  cyst=cyst)


def _read_dicom(path: Path, case_id: str | None) -> Volume:
    from liverlib.dicom_read import read_dicom_series

    hu, spacing, origin, direction, info = read_dicom_series(path)
    return _volume(hu, spacing, origin, direction, None, info, "dicom", case_id, "ct")


def _same_grid(image: tuple, mask: tuple, mask_dir: Path, image_dir: Path) -> None:
    shape_i, spacing_i, origin_i = image
    shape_m, spacing_m, origin_m = mask
    # The folder name only: the reason is logged without paths (a case folder can be PHI).
    where = image_dir.name
    if shape_i != shape_m:
        raise GeometryMismatchError(mask_dir, f"mask shape {shape_m} differs from image {where} shape {shape_i}")
    if not np.allclose(spacing_i, spacing_m, atol=GRID_TOL_MM) or not np.allclose(origin_i, origin_m, atol=GRID_TOL_MM):
        raise GeometryMismatchError(
            mask_dir,
            f"mask grid (spacing {np.round(spacing_m, 3).tolist()}, origin {np.round(origin_m, 2).tolist()}) "
            f"differs from image {where} (spacing {np.round(spacing_i, 3).tolist()}, "
            f"origin {np.round(origin_i, 2).tolist()})",
        )


#: 3D-IRCADb's names of the liver cyst masks (French "kyste"; the cases differ).
CYST_MASK_PATTERNS = ("liverkyst*", "livercyst*")


def ircadb_mask_dirs(case: Path) -> tuple[Path | None, list[Path], list[Path]]:
    """The liver, tumor and cyst mask folders of a 3D-IRCADb case.

    Returns:
        ``(liver, tumors, cysts)``: ``MASKS_DICOM/liver`` (None when absent),
        the ``livertumor*`` folders (``livertumor``, ``livertumor01``,
        ``livertumors``...) and the ``liverkyst*`` / ``livercyst*`` ones.
    """
    masks = case / "MASKS_DICOM"
    if not masks.is_dir():
        return None, [], []
    liver = sorted(p for p in masks.rglob("liver") if p.is_dir())
    tumors = sorted(p for p in masks.rglob("livertumor*") if p.is_dir())
    cysts = sorted({p for pattern in CYST_MASK_PATTERNS for p in masks.rglob(pattern) if p.is_dir()})
    return (liver[0] if liver else None), tumors, cysts


def _read_ircadb(case: Path, case_id: str | None) -> Volume:
    from liverlib.dicom_read import read_dicom_series

    image_dir = case / "PATIENT_DICOM"
    hu, spacing, origin, direction, info = read_dicom_series(image_dir)
    liver_dir, tumor_dirs, cyst_dirs = ircadb_mask_dirs(case)
    label, cyst = None, None
    if liver_dir is not None:
        label = np.zeros(hu.shape, dtype=np.uint8)
        cyst = np.zeros(hu.shape, dtype=bool)
        # Cysts are benign: liver (1) even where the liver mask left them out;
        # tumors (2) are written last and win where a cyst mask overlaps them.
        masks = [(liver_dir, LIVER)] + [(c, LIVER) for c in cyst_dirs] + [(t, TUMOR) for t in tumor_dirs]
        for mask_dir, value in masks:
            # Stored values: masks are 0/255 labels, and a CT intercept (-1024)
            # copied into their headers would push 255 below 0 and empty them.
            mask, m_spacing, m_origin, _, _ = read_dicom_series(mask_dir, require_ct=False, rescale=False)
            _same_grid((hu.shape, spacing, origin), (mask.shape, m_spacing, m_origin), mask_dir, image_dir)
            inside = mask > 0
            if value == LIVER and mask_dir == liver_dir and not inside.any():
                raise LabelValueError(mask_dir, "liver mask is empty (no stored value above 0 in any slice)")
            label[inside] = value
            if mask_dir in cyst_dirs:
                cyst |= inside
        info["n_tumor_masks"] = len(tumor_dirs)
        info["n_cyst_masks"] = len(cyst_dirs)
        cyst &= label == LIVER  # what a tumor mask overlapped is tumor, not cyst
    cyst = cyst if cyst is not None and cyst.any() else None
    return _volume(hu, spacing, origin, direction, label, info, "ircadb", case_id, "ircadb", cyst)


def label_path_for(image: Path, layout: str) -> Path | None:
    """Where the label of a LiTS or MSD image lies (None when absent)."""
    if layout == "lits":
        number = LITS_IMAGE.match(image.name).group(1)
        for suffix in (".nii.gz", ".nii"):
            candidate = image.with_name(f"segmentation-{number}{suffix}")
            if candidate.exists():
                return candidate
        return None
    if layout == "msd":
        candidate = image.parent.parent / "labelsTr" / image.name
        return candidate if candidate.exists() else None
    return None


def msd_task_labels(image: Path) -> dict[str, str] | None:
    """The ``labels`` of the Decathlon ``dataset.json`` beside ``imagesTr/``.

    Args:
        image: An MSD image, ``<task>/imagesTr/<name>.nii.gz``.

    Returns:
        ``{"0": "background", "1": "liver", ...}`` (an nnU-Net v2 file's
        ``{"liver": 1, ...}`` turned round), or None when the task
        folder has no dataset.json (then Task03 Liver is assumed).

    Raises:
        UnknownLayoutError: dataset.json is unreadable or has no labels mapping.
    """
    dataset = image.parent.parent / "dataset.json"
    if not dataset.is_file():
        return None
    try:
        labels = json.loads(dataset.read_text(encoding="utf-8")).get("labels")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise UnknownLayoutError(dataset, f"dataset.json unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(labels, dict):
        raise UnknownLayoutError(dataset, 'dataset.json has no "labels" mapping (e.g. {"1": "liver", "2": "cancer"})')
    if labels and all(isinstance(v, int) for v in labels.values()):  # nnU-Net v2: {"liver": 1, ...}
        return {str(v): str(k) for k, v in labels.items()}
    return {str(k): str(v) for k, v in labels.items()}


def is_liver_task(labels: dict[str, str]) -> bool:
    """True when label 1 names the liver and label 2 a tumor, cancer or lesion."""
    liver = labels.get("1", "").strip().lower()
    tumor = labels.get("2", "").strip().lower()
    return liver == "liver" and bool(MSD_TUMOR.search(tumor))


def check_msd_task(image: Path) -> None:
    """Refuse an MSD image whose task is not Task03 Liver.

    Other Decathlon tasks share the imagesTr/labelsTr layout, but their labels
    1 and 2 are other organs (Task07 pancreas, Task08 vessel, Task09 spleen):
    read as liver and tumor they would be silently wrong.

    Raises:
        UnknownLayoutError: naming dataset.json and its labels.
    """
    labels = msd_task_labels(image)
    if labels is not None and not is_liver_task(labels):
        raise UnknownLayoutError(
            image.parent.parent / "dataset.json",
            f"dataset.json labels {labels} are not those of Decathlon Task03 Liver "
            "(1 liver, 2 tumor/cancer/lesion); liverlib reads no other task",
        )


def _read_nifti(path: Path, layout: str, case_id: str | None) -> Volume:
    from liverlib.nifti_io import check_same_grid, load_nifti, nifti_to_canonical

    img = load_nifti(path)
    hu, spacing, origin, direction = nifti_to_canonical(img, path)
    label = None
    label_path = label_path_for(path, layout)
    if label_path is not None:
        seg = load_nifti(label_path)
        check_same_grid(seg, img, label_path, path)
        label = nifti_to_canonical(seg, label_path, as_label=True)[0]
    info = {
        "layout": layout,
        "nifti_affine": np.asarray(img.affine, dtype=float).round(6).tolist(),
        "has_label": label is not None,
        # qform and sform codes 0 (NIfTI-1 "method 1"): the header does not say how the voxels lie in the
        # patient; nibabel's fallback affine is a guess that can mirror the anatomy.
        "orientation_unknown": bool(int(img.header["qform_code"]) == 0 == int(img.header["sform_code"])),
    }
    if info["orientation_unknown"]:
        log.warning("%s: no orientation in the NIfTI header (qform_code and sform_code 0): read on a guessed "
                    "orientation that may mirror the anatomy; set the header's codes if the views come out flipped",
                    path.name)
    stem = path.name.split(".nii")[0]
    info["_uids"] = (layout, stem)
    return _volume(hu, spacing, origin, direction, label, info, layout, case_id, layout)


def discover_studies(source: str | Path) -> list[tuple[Path, str]]:
    """Find every study under ``source``, in any of the layouts.

    A 3D-IRCADb case folder, a LiTS ``volume-N`` file and an MSD ``imagesTr``
    file are one study each; for plain DICOM, each top-level sub-folder that
    holds files is one study (and ``source`` itself when files lie directly in
    it). MSD images of a task whose ``dataset.json`` names other labels than
    liver and tumor (Decathlon Task07 Pancreas, Task09 Spleen...) are left
    out; without ``dataset.json``, ``imagesTr/`` is taken as Task03 Liver.

    Args:
        source: A folder (or one study file).

    Returns:
        ``(path, layout)`` pairs in a stable order.
    """
    source = Path(source)
    if not source.exists():
        raise StudyError(source, "does not exist")
    if source.is_file():
        return [(source, detect_layout(source))]
    if (source / "PATIENT_DICOM").is_dir():
        return [(source, "ircadb")]
    studies: list[tuple[Path, str]] = []
    other_tasks: dict[Path, dict[str, str]] = {}  # imagesTr folder -> labels of a non-liver task
    liver_tasks: set[Path] = set()
    skipped: list[Path] = []
    for image in sorted(source.rglob("*.nii*")):
        if image.name.startswith("._"):  # macOS resource forks in the MSD archive
            continue
        layout = detect_layout(image)
        if layout == "msd" and image.parent not in liver_tasks:
            if image.parent not in other_tasks:
                try:
                    labels = msd_task_labels(image)
                except StudyError:
                    labels = None  # kept: read_study then reports the unreadable dataset.json
                if labels is None or is_liver_task(labels):
                    liver_tasks.add(image.parent)
                else:
                    other_tasks[image.parent] = labels
            if image.parent in other_tasks:
                skipped.append(image)
                continue
        if layout in ("lits", "msd"):
            studies.append((image, layout))
    for labels in other_tasks.values():
        # No path: a folder name can be PHI; the labels say which task it was.
        log.info("skipped an MSD task whose dataset.json labels %s are not liver and tumor", labels)
    ircadb: list[Path] = []
    for case in sorted(p.parent for p in source.rglob("PATIENT_DICOM") if p.is_dir()):
        # The archive quirk PATIENT_DICOM/PATIENT_DICOM makes a case look nested in itself.
        if not any(case.is_relative_to(c) or c.is_relative_to(case) for c in ircadb):
            ircadb.append(case)
    studies += [(case, "ircadb") for case in ircadb]
    # Skipped task images still claim their folders (not DICOM studies).
    nifti_dirs = {s.parent for s, layout in studies if layout in ("lits", "msd")} | {s.parent for s in skipped}
    found_before_children = len(studies) + len(skipped)
    for child in sorted(p for p in source.iterdir() if p.is_dir()):
        if child.name in ("imagesTr", "labelsTr", "imagesTs") or any(
            s.is_relative_to(child) or child.is_relative_to(s) for s in ircadb
        ):
            continue
        if any(p.parent == child or p.is_relative_to(child) for p in nifti_dirs):
            continue
        if any(f.is_file() and not f.name.startswith(".") for f in child.rglob("*")):
            studies.append((child, "dicom"))
    # Files lying directly in ``source`` make it one study, unless its
    # sub-folders already are studies (then they are companions, e.g. DICOMDIR).
    loose = [
        p
        for p in source.iterdir()
        if p.is_file() and not NIFTI.match(p.name) and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
    ]
    if loose and len(studies) == found_before_children == 0 and not _only_docs(loose):
        studies.append((source, "dicom"))
    return studies


def _only_docs(files: list[Path]) -> bool:
    return all(f.suffix.lower() in {".txt", ".md", ".csv", ".json", ".yaml", ".yml"} for f in files)
