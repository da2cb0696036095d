"""The decode step of notebook 01 in one call: phantoms or a folder -> slice dataset.

``prepare_cohort(source, dataset, ...)`` does what ``01_decode.ipynb`` shows:

1. ``source="phantom"``: write the synthetic cohort (3D-IRCADb layout, real
   DICOM) into ``<data_root>/raw/<dataset>``, unless the same ``n_cases``,
   ``seed`` and matrix are already there;
2. a folder of studies (DICOM, 3D-IRCADb, LiTS, MSD): decode it into
   ``<data_root>/interim/<dataset>`` (:func:`liverlib.decode.decode_cohort`,
   unchanged studies skipped), then build the three-view slice dataset in
   ``<data_root>/processed/<dataset>/<image_size>``
   (:func:`liverlib.build_dataset.build_slice_dataset`, skipped when up to date);
3. a 2D image-folder dataset (``train/images``, ``train/masks``...,
   ``labels.csv``): imported as it is (:func:`liverlib.image_folder.import_image_folder`).

Everything returned is plain lists of dicts (no pandas) and carries only
case-id pseudonyms: failed studies are numbered, not named, unless
``show_study_names`` is asked for (a folder name can be a patient's name).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from liverlib.atomic import write_json
from liverlib.deid import scrub_file_names
from liverlib.paths import project_path, project_relative
from liverlib.slice_dataset import SPLITS, VIEWS

PHANTOM_SOURCE = "phantom"


@dataclass
class CohortSummary:
    """What :func:`prepare_cohort` did, as plain data (JSON-ready with :meth:`to_dict`).

    Args:
        dataset: The dataset name, e.g. ``"phantoms"``.
        raw_dir: Where the studies are (the phantoms were written here),
            relative to the project root when inside it (no local path in the reports).
        interim_dir: ``<data_root>/interim/<dataset>`` (None for image folders), the same way.
        processed_dir: ``<data_root>/processed/<dataset>/<image_size>``, the same way.
        cases: One dict per decoded case: case_id, layout, shape, spacing,
            liver_ml, tumor_ml, n_lesions, contrast_phase, split; and
            series_skipped, files_dropped when a study had any.
        failures: One dict per study that failed: stage, study, case_id, reason.
        decode_status: Count of decoded / skipped / failed studies.
        manifest: The slice dataset manifest (counts per split, view, class).
        phantoms_written: True when phantoms were (re)generated this time.
        seconds: Wall time of the whole step.
    """

    dataset: str
    raw_dir: str
    interim_dir: str | None
    processed_dir: str
    cases: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    decode_status: dict = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)
    phantoms_written: bool = False
    seconds: float = 0.0

    @property
    def counts(self) -> list[dict]:
        """Slices per split and view: ``slices``, ``cancer``, ``no_cancer``, ``cases``."""
        return count_rows(self.manifest)

    def to_dict(self) -> dict:
        return {**asdict(self), "counts": self.counts}

    def write_json(self, path: str | Path) -> Path:
        """Write the summary (no PHI: pseudonyms and counts only) atomically."""
        return write_json(path, self.to_dict(), indent=1, sort_keys=True, default=str)


def count_rows(manifest: dict) -> list[dict]:
    """Flatten a manifest's ``counts`` into table rows, one per split and view.

    Args:
        manifest: From :func:`liverlib.build_dataset.build_slice_dataset`.

    Returns:
        Rows ``{"split", "view", "slices", "cancer", "no_cancer", "cases"}``; the
        view ``"all"`` row of each split sums its views.
    """
    rows = []
    for split in SPLITS:
        counts = manifest.get("counts", {}).get(split)
        if not counts:
            continue
        for view in VIEWS:
            n, cancer = counts[view]["n"], counts[view]["cancer"]
            rows.append({"split": split, "view": view, "slices": n, "cancer": cancer,
                         "no_cancer": n - cancer, "cases": counts["cases"]})
        rows.append({"split": split, "view": "all", "slices": counts["n"], "cancer": counts["cancer"],
                     "no_cancer": counts["n"] - counts["cancer"], "cases": counts["cases"]})
    return rows


def is_image_folder(path: str | Path) -> bool:
    """True for a 2D image-folder dataset (``train/images/`` and ``train/labels.csv``)."""
    train = Path(path) / "train"
    return (train / "images").is_dir() and (train / "labels.csv").is_file()


def ensure_phantoms(out_dir: str | Path, n_cases: int, seed: int = 0, *, matrix: int = 256,
                    workers: int = 1) -> bool:
    """Write the phantom cohort unless the same one is already in ``out_dir``.

    The cohort matches when ``phantom-000`` ... ``phantom-<n-1>`` each hold a
    ``phantom.json`` with the expected per-case seed and matrix and this
    generator's ``PHANTOM_VERSION`` (a cohort of an older liverlib is written
    again, so its phantoms follow the code), and no other
    phantom folder is there. Otherwise the generated folders (those with a
    ``phantom.json``) are removed and the cohort is written again; other files
    are never touched.

    Args:
        out_dir: e.g. ``data/raw/phantoms``.
        n_cases: Number of studies, e.g. 3 (smoke) or 48 (demo).
        seed: Cohort seed.
        matrix: 256 (about 1.5 mm pixels) or 512.
        workers: Processes for the generator.

    Returns:
        True when phantoms were written, False when the cohort was up to date.
    """
    from liverlib.phantom.cohort import case_seed, write_phantom_cohort
    from liverlib.phantom.generator import PHANTOM_VERSION

    if n_cases < 1:
        raise ValueError(f"n_cases must be >= 1, got {n_cases}")
    out_dir = Path(out_dir)
    found = {}
    for info_path in sorted(out_dir.glob("phantom-*/phantom.json")):
        try:
            found[info_path.parent.name] = json.loads(info_path.read_text())
        except (OSError, ValueError):
            found[info_path.parent.name] = {}
    expected = {f"phantom-{i:03d}": case_seed(seed, i) for i in range(n_cases)}
    up_to_date = set(found) == set(expected) and all(
        found[name].get("seed") == s and found[name].get("matrix") == matrix
        and found[name].get("version") == PHANTOM_VERSION
        and (out_dir / name / "PATIENT_DICOM").is_dir()
        for name, s in expected.items()
    )
    if up_to_date:
        return False
    for name in found:
        shutil.rmtree(out_dir / name)
    write_phantom_cohort(out_dir, n_cases, seed, matrix=matrix, workers=workers)
    return True


def _anonymise(text: str, replacements: list[tuple[str, str]]) -> str:
    for old, new in replacements:
        if old:
            text = text.replace(old, new)
    return text


def decode_failures(results, source: str | Path, *, show_study_names: bool = False) -> list[dict]:
    """Rows of the failures table from decode results, without PHI by default.

    Args:
        results: ``DecodeResult`` list from ``decode_cohort``.
        source: The source folder (stripped from the reasons).
        show_study_names: Show the failed study's folder or file name
            (relative to ``source``); default numbers it ``study 3/12``.

    Returns:
        Rows ``{"stage": "decode", "study", "case_id", "reason"}``.
    """
    source = Path(source)
    ordered = sorted(results, key=lambda r: r.source)
    rows = []
    for k, result in enumerate(ordered, 1):
        if result.status != "failed":
            continue
        path = Path(result.source)
        try:
            rel = str(path.relative_to(source))
        except ValueError:
            rel = path.name
        label = rel if show_study_names else f"study {k}/{len(ordered)}"
        reason = _anonymise(result.reason, [(str(path), label), (str(source.resolve()), "<source>"),
                                            (str(source), "<source>")])
        if not show_study_names:
            reason = re.sub(re.escape(rel), label, reason)
            reason = scrub_file_names(reason, path, Path(rel).parts)
        rows.append({"stage": "decode", "study": label, "case_id": result.case_id or "", "reason": reason})
    return rows


def prepare_cohort(
    source: str | Path = PHANTOM_SOURCE,
    dataset: str = "phantoms",
    *,
    data_root: str | Path = "data",
    n_cases: int = 48,
    seed: int = 0,
    phantom_matrix: int = 256,
    image_size: int = 128,
    spacing_mm: float = 1.6,
    windows=((60, 400), (60, 150)),
    split_fractions: dict | None = None,
    liver_free_fraction: float = 0.25,
    slice_stride: int = 5,
    context_slices: int = 1,
    crop: str = "liver",
    image_channels: int = 1,
    workers: int = 0,
    force: bool = False,
    show_study_names: bool = False,
    progress: bool = False,
) -> CohortSummary:
    """Generate (phantoms) or find the studies, decode them, build the slice dataset.

    Args:
        source: ``"phantom"`` for the synthetic cohort, or a folder such as
            ``"data/raw/my_cohort"`` (studies) or an image-folder dataset.
        dataset: Name of the interim and processed dataset, e.g. ``"phantoms"``.
        data_root: Holds ``raw/``, ``interim/``, ``processed/``; relative
            paths resolve against the project root.
        n_cases: Phantom studies to generate (phantom source only).
        seed: Phantom cohort seed, patient split seed and slice draw seed.
        phantom_matrix: 256 (about 1.5 mm pixels, fast) or 512.
        image_size: Slice side S in pixels, e.g. 128.
        spacing_mm: Isotropic resampling step before slicing, e.g. 1.6 mm.
        windows: HU ``(level, width)`` per input channel; ``(60, 400)`` maps
            -140..260 HU to 0..1.
        split_fractions: e.g. ``{"train": 0.7, "valid": 0.15, "test": 0.15}``.
        liver_free_fraction: Share of liver-free body slices kept (0..1).
        slice_stride: Keep every n-th slice.
        context_slices: 2.5D input: neighbour slices each side as extra
            channels (``views.slice_inputs``), 0 for plain 2D slices.
        crop: ``liver`` (slices from a box around each reference liver, about
            1.6 mm pixels at 128 px) or ``body`` (the whole body cube, about 2.8 mm).
        image_channels: Image-folder sources only: 1 (grey) or 3 (RGB).
        workers: Processes for generating and decoding; 0 = all CPUs.
        force: Decode and rebuild even when up to date.
        show_study_names: Name failed studies by folder (may be PHI).
        progress: tqdm bars (off under papermill: one log line per study).

    Returns:
        The :class:`CohortSummary`.
    """
    from liverlib.build_dataset import build_slice_dataset
    from liverlib.decode import decode_cohort

    start = time.perf_counter()
    workers = int(workers) if workers and workers > 0 else (os.cpu_count() or 1)
    root = project_path(data_root)
    processed = root / "processed" / dataset / str(int(image_size))
    written = False
    if str(source) == PHANTOM_SOURCE:
        raw = root / "raw" / dataset
        written = ensure_phantoms(raw, n_cases, seed, matrix=phantom_matrix, workers=min(workers, n_cases))
    else:
        raw = project_path(source)
        if not raw.exists():
            raise FileNotFoundError(f"{raw}: source folder does not exist")
    if str(source) != PHANTOM_SOURCE and is_image_folder(raw):
        from liverlib.image_folder import import_image_folder

        if context_slices:  # profiles ask for 2.5D; a PNG slice has no neighbours
            print(f"{raw.name}: an image folder holds single 2D slices: context_slices {context_slices} ignored")

        manifest = import_image_folder(raw, processed, image_size, image_channels, force=force)
        return CohortSummary(dataset=dataset, raw_dir=project_relative(raw), interim_dir=None, processed_dir=project_relative(processed),
                             failures=[], decode_status={}, manifest=manifest,
                             seconds=round(time.perf_counter() - start, 2))

    interim = root / "interim" / dataset
    results = decode_cohort(raw, dataset, interim_root=root / "interim", workers=workers,
                            split_fractions=split_fractions, seed=seed, force=force, progress=progress)
    failures = decode_failures(results, raw, show_study_names=show_study_names)
    status = {s: sum(r.status == s for r in results) for s in ("decoded", "skipped", "failed")}
    if not any(r.status != "failed" for r in results):
        return CohortSummary(dataset=dataset, raw_dir=project_relative(raw), interim_dir=project_relative(interim), processed_dir=project_relative(processed),
                             failures=failures, decode_status=status, phantoms_written=written,
                             seconds=round(time.perf_counter() - start, 2))
    manifest = build_slice_dataset(
        interim, processed, image_size=image_size, spacing_mm=spacing_mm, windows=windows,
        liver_free_fraction=liver_free_fraction, slice_stride=slice_stride, context_slices=context_slices,
        crop=crop, seed=seed, force=force, progress=progress,
    )
    failures += [{"stage": "slice", "study": "", "case_id": f["case_id"], "reason": f["reason"]}
                 for f in manifest.get("failures", [])]
    from liverlib.interim import read_cases

    rows = read_cases(interim)
    keys = ["case_id", "layout", "shape", "spacing", "liver_ml", "tumor_ml", "n_lesions", "contrast_phase", "split"]
    # What the DICOM reader left out of a study, only where it left something out.
    keys += [k for k in ("series_skipped", "files_dropped") if any(r.get(k) not in (None, "", "0") for r in rows)]
    cases = [{key: row.get(key) for key in keys} for row in rows]
    return CohortSummary(dataset=dataset, raw_dir=project_relative(raw), interim_dir=project_relative(interim), processed_dir=project_relative(processed),
                         cases=cases, failures=failures, decode_status=status, manifest=manifest,
                         phantoms_written=written, seconds=round(time.perf_counter() - start, 2))


@dataclass
class DatasetInfo:
    """A built dataset as notebook 02 reads it.

    Args:
        interim_dir: ``<data_root>/interim/<dataset>`` (may not exist for image folders).
        processed_dir: ``<data_root>/processed/<dataset>/<image_size>``.
        cases: Rows of ``cases.csv`` ([] for image-folder datasets).
        manifest: The slice dataset manifest.
        spacing_mm: Resampling step the slices were made with (1.6 when unknown).
    """

    interim_dir: Path
    processed_dir: Path
    cases: list[dict]
    manifest: dict
    spacing_mm: float

    @property
    def case_ids(self) -> list[str]:
        return [row["case_id"] for row in self.cases]

    @property
    def cube(self) -> dict:
        """How the slices were cut (``crop``, ``liver_margin_mm``, ``antialias``), for the figures and the viewer."""
        from liverlib.liver_box import LIVER_MARGIN_MM

        return {"crop": self.manifest.get("crop", "body"),
                "liver_margin_mm": float(self.manifest.get("liver_margin_mm", LIVER_MARGIN_MM)),
                "antialias": bool(self.manifest.get("antialias", False))}


def open_dataset(dataset: str, image_size: int = 128, data_root: str | Path = "data") -> DatasetInfo:
    """Find a dataset built by :func:`prepare_cohort` (relative ``data_root``
    resolves against the project root).

    Args:
        dataset: e.g. ``"phantoms"``.
        image_size: Slice side the dataset was built with, e.g. 128.
        data_root: Holds ``interim/`` and ``processed/``.

    Returns:
        The :class:`DatasetInfo`; raises DatasetError naming the missing manifest.
    """
    from liverlib.interim import read_cases
    from liverlib.slice_dataset import read_manifest

    root = project_path(data_root)
    interim = root / "interim" / dataset
    processed = root / "processed" / dataset / str(int(image_size))
    manifest = read_manifest(processed)
    return DatasetInfo(interim_dir=interim, processed_dir=processed, cases=read_cases(interim), manifest=manifest,
                       spacing_mm=float(manifest.get("spacing_mm") or 1.6))
