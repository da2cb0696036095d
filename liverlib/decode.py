"""The decode step: every study under a source into the interim cache.

``python -m liverlib decode SOURCE --dataset NAME`` discovers the studies
(:func:`liverlib.study.discover_studies`), decodes them in parallel, writes
``data/interim/<NAME>/`` atomically, skips studies that are already decoded
and unchanged, and ends with a table of decoded, skipped and failed studies.
One bad study is reported and skipped; it never stops the cohort.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liverlib.deid import project_salt, scrub_file_names
from liverlib.dicom_read import describe_dropped
from liverlib.errors import StudyError
from liverlib.interim import (
    has_cyst_record,
    read_cases,
    read_sources,
    save_case,
    write_cases,
    write_sources,
)
from liverlib.splits import DEFAULT_FRACTIONS, assign_splits
from liverlib.volume import LIVER, TUMOR, Volume

log = logging.getLogger(__name__)


@dataclass
class DecodeResult:
    """What happened to one study. ``source`` is shown to the user only,
    never written to the cache (a folder name can be a patient's name)."""

    source: str
    status: str  # decoded, skipped or failed
    case_id: str = ""
    reason: str = ""
    row: dict | None = None
    seconds: float = 0.0
    error: str = ""  # the reason without any path, for logs (a folder name can be PHI)
    pending: str = ""  # where the worker wrote the cache file; the cohort step renames it into place


def source_fingerprint(path: Path) -> str:
    """Keyed hash of a study's files (relative names, sizes, mtimes)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if path.is_file():
        from liverlib.study import detect_layout, label_path_for

        label = label_path_for(path, detect_layout(path))
        files += [label] if label else []
    digest = hmac.new(project_salt(), digestmod=hashlib.sha256)
    for f in files:
        st = f.stat()
        # An MSD label lies in ../labelsTr, beside the image's folder, not in it.
        name = f.relative_to(path.parent) if f.is_relative_to(path.parent) else Path("..") / f.relative_to(path.parent.parent)
        digest.update(f"{name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def volumetry(volume: Volume) -> dict:
    """Liver and tumor volume (mL) and lesion count of a labelled Volume."""
    from scipy import ndimage

    if volume.label is None:
        return {"liver_ml": "", "tumor_ml": "", "n_lesions": ""}
    label = volume.label
    tumor = label == TUMOR
    n_lesions = int(ndimage.label(tumor, structure=np.ones((3, 3, 3)))[1]) if tumor.any() else 0
    return {
        # The liver volume includes its tumors, as LiTS and 3D-IRCADb report it.
        "liver_ml": round(float(np.count_nonzero((label == LIVER) | tumor)) * volume.voxel_ml, 2),
        "tumor_ml": round(float(np.count_nonzero(tumor)) * volume.voxel_ml, 2),
        "n_lesions": n_lesions,
    }


#: Layouts whose series carry DICOM descriptions (the contrast phase; ``liverlib.contrast_phase``).
DICOM_LAYOUTS = ("dicom", "ircadb")


def decode_one(path: str, layout: str, out_dir: str) -> DecodeResult:
    """Decode one study and cache it (runs in a worker process)."""
    from liverlib.study import read_study

    start = time.perf_counter()
    try:
        volume = read_study(path)
        # A name of this study's own: two studies with the same UIDs (one case id) never write
        # one file; decode_cohort renames the one it keeps into ``<case_id>.npz``.
        pending = save_case(out_dir, volume, name=f".{volume.case_id}.{uuid.uuid4().hex}.pending")
    except StudyError as exc:
        return _failed(path, type(exc).__name__, exc.reason, f"{exc}")
    except MemoryError:
        return _failed(path, "MemoryError", "study too large for memory")
    except Exception as exc:  # noqa: BLE001 - one study's unforeseen fault must not stop the cohort
        return _failed(path, type(exc).__name__, f"unexpected error while decoding ({exc})")
    dropped = volume.meta.get("dropped") or {}
    row = {
        "case_id": volume.case_id,
        "layout": layout,
        "shape": "x".join(str(n) for n in volume.shape),
        "spacing": "x".join(f"{s:.3f}" for s in volume.spacing),
        **volumetry(volume),
        # From the DICOM descriptions (liverlib.contrast_phase); a NIfTI file does not say.
        "contrast_phase": volume.meta.get("contrast_phase", "unknown"),
        # What the DICOM reader left out, so that a skipped series or file is not lost silently.
        "series_skipped": volume.meta.get("n_series_skipped", 0),
        "files_dropped": describe_dropped(dropped) if dropped else "",
    }
    return DecodeResult(path, "decoded", volume.case_id, row=row, seconds=time.perf_counter() - start,
                        pending=str(pending))


def _failed(path: str, kind: str, reason: str, message: str | None = None) -> DecodeResult:
    """A failed study: the full message for the user, and for logs one whose file names that may
    identify the patient are replaced (``liverlib.deid.scrub_file_names``)."""
    study = Path(path)
    where = [(str(study), "<study>")] + ([(str(study.parent), "<study folder>")] if study.suffix else [])
    quiet = reason
    for old, new in where:  # an exception's text may carry the absolute path
        quiet = quiet.replace(old, new)
    return DecodeResult(path, "failed", reason=f"{kind}: {message or f'{path}: {reason}'}",
                        error=f"{kind}: {scrub_file_names(quiet, study)}")


def decode_cohort(
    source: str | Path,
    dataset: str,
    *,
    interim_root: str | Path = "data/interim",
    workers: int | None = None,
    split_fractions: dict[str, float] | None = None,
    seed: int = 0,
    force: bool = False,
    progress: bool | None = None,
) -> list[DecodeResult]:
    """Decode every study under ``source`` into ``<interim_root>/<dataset>``.

    Args:
        source: A folder holding studies in any supported layout.
        dataset: Name of the interim dataset folder.
        interim_root: Where interim datasets live.
        workers: Parallel processes (default: CPU count).
        split_fractions: train/valid/test fractions for the patient split.
        seed: Split seed.
        force: Decode again even when a study is unchanged.
        progress: tqdm bar (default: only on a terminal); otherwise one log
            line per study.

    Returns:
        One DecodeResult per discovered study.
    """
    from liverlib.study import discover_studies

    out_dir = Path(interim_root) / dataset
    out_dir.mkdir(parents=True, exist_ok=True)
    studies = discover_studies(source)
    sources = read_sources(out_dir)
    rows = {r["case_id"]: r for r in read_cases(out_dir)}
    results: list[DecodeResult] = []
    todo = []
    fingerprints = {}
    for path, layout in studies:
        fp = source_fingerprint(path)
        fingerprints[str(path)] = fp
        cached = sources.get(fp)
        row = rows.get(cached) if cached else None
        if row is not None and not row.get("contrast_phase") and layout not in DICOM_LAYOUTS:
            row["contrast_phase"] = "unknown"  # a cache from before that column; NIfTI never says
        # A DICOM study cached before that column is decoded again, once, to read its phase, and
        # a 3D-IRCADb case cached before the cysts were kept (``Volume.cyst``), to read its cysts.
        npz = out_dir / f"{cached}.npz"
        current = npz.exists() and (layout != "ircadb" or has_cyst_record(npz))
        if not force and row is not None and row.get("contrast_phase") and current:
            results.append(DecodeResult(str(path), "skipped", cached, reason="unchanged", row=row))
        else:
            todo.append((str(path), layout))
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    for stale in out_dir.glob(".*.pending.npz"):  # left by an interrupted run
        stale.unlink(missing_ok=True)
    kept: dict[str, DecodeResult] = {r.case_id: r for r in results}
    for result in _run(todo, str(out_dir), workers, progress):  # in the sources' order
        results.append(result)
        if result.status != "decoded":
            continue
        twin = kept.get(result.case_id)
        if twin is not None:
            # Two studies with the same Study and Series UIDs (a partial copy beside the full one,
            # an anonymiser that fixed the UIDs): the first in the sources' order keeps the case,
            # whatever order the workers finished in; the other's file goes, and its fingerprint
            # points at the kept case, so the next run skips both as they are.
            Path(result.pending).unlink(missing_ok=True)
            result.status = "skipped"
            result.reason = f"same Study/Series UIDs as {Path(twin.source).name} in this source (kept)"
            result.row = twin.row
            sources[fingerprints[result.source]] = result.case_id
            continue
        os.replace(result.pending, out_dir / f"{result.case_id}.npz")
        kept[result.case_id] = result
        sources[fingerprints[result.source]] = result.case_id
        rows[result.case_id] = result.row
    keep = _source_order(results, source)
    rows = {c: rows[c] for c in keep if c in rows}
    for row in rows.values():
        row["has_tumor"] = bool(row.get("n_lesions") not in ("", None) and int(row["n_lesions"]) > 0)
    splits = assign_splits(
        list(rows), [rows[c]["has_tumor"] for c in rows], split_fractions or DEFAULT_FRACTIONS, seed=seed
    )
    for case_id, row in rows.items():
        row["split"] = splits[case_id]
    fractions = split_fractions or DEFAULT_FRACTIONS
    empty = [name for name, f in fractions.items() if f > 0 and rows and name not in splits.values()]
    if empty:
        log.warning("the patient split of %d studies left %s empty: training needs a validation split and "
                    "evaluation a test split; decode more studies", len(rows), " and ".join(empty))
    write_cases(out_dir, list(rows.values()))
    write_sources(out_dir, {fp: c for fp, c in sources.items() if c in rows})
    return results


def _source_order(results: list[DecodeResult], source: str | Path) -> list[str]:
    """Case ids of the studies that decoded, in the order of their sources.

    The split and every per-study random draw downstream follow this order,
    not the case ids: those are keyed with this checkout's secret salt, so
    sorting by them would give each checkout its own split. The paths are
    only compared here, never written.
    """
    root = Path(source)
    first: dict[str, str] = {}
    for r in results:
        if r.status == "failed" or not r.case_id:
            continue
        path = Path(r.source)
        key = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
        first[r.case_id] = min(first.get(r.case_id, key), key)
    return sorted(first, key=first.__getitem__)


def _run(todo: list, out_dir: str, workers: int, progress: bool | None):
    from tqdm.auto import tqdm

    show_bar = progress if progress is not None else _is_terminal()
    bar = tqdm(total=len(todo), desc="decode", unit="study", disable=not show_bar)
    if workers == 1 or len(todo) <= 1:
        iterator = (decode_one(p, layout, out_dir) for p, layout in todo)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        futures = [(p, layout, pool.submit(decode_one, p, layout, out_dir)) for p, layout in todo]
        iterator = (_result(p, layout, f, out_dir) for p, layout, f in futures)
    try:
        for n, result in enumerate(iterator, 1):
            bar.update()
            if not show_bar:
                what = result.case_id if result.status == "decoded" else result.error or result.reason
                # Counted among the studies this run decodes (cached ones are not), in the order they
                # finish; the failures table numbers studies among all, in source order.
                log.info("decode %d of %d not yet cached: %s %s (%.1f s)", n, len(todo), result.status, what, result.seconds)
            yield result
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()


def _result(path: str, layout: str, future, out_dir: str) -> DecodeResult:
    """A worker's result. When a worker died (killed for memory), the pool is broken and every study
    it had not finished comes back here: each is decoded again alone, in a fresh process of its own,
    so only a study that kills its worker by itself fails."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        pass
    with ProcessPoolExecutor(max_workers=1) as alone:
        try:
            return alone.submit(decode_one, path, layout, out_dir).result()
        except BrokenProcessPool:
            return _failed(path, "WorkerDied", "the decode worker died (killed for memory?) on this study, "
                           "decoded alone: it may need more memory than this machine has")


def _is_terminal() -> bool:
    import sys

    return sys.stderr.isatty()


def summary_table(results: list[DecodeResult], *, show_sources: bool = True) -> str:
    """Plain-text table of decoded, skipped and failed studies with reasons."""
    lines = [f"{'status':8} {'case_id':22} {'study':40} reason"]
    for r in sorted(results, key=lambda r: (r.status != "failed", r.status, r.source)):
        study = Path(r.source).name if show_sources else ""
        lines.append(f"{r.status:8} {r.case_id or '-':22} {study[:40]:40} {r.reason}")
    counts = {s: sum(r.status == s for r in results) for s in ("decoded", "skipped", "failed")}
    lines.append(", ".join(f"{v} {k}" for k, v in counts.items()))
    return "\n".join(lines)


def add_arguments(parser) -> None:
    parser.add_argument("source", help="folder of studies (DICOM, 3D-IRCADb, LiTS, MSD)")
    parser.add_argument("--dataset", required=True, help="name of the interim dataset")
    parser.add_argument("--interim-root", default="data/interim")
    parser.add_argument("--workers", type=int, default=None, help="parallel processes (default: CPU count)")
    parser.add_argument("--seed", type=int, default=0, help="patient split seed")
    parser.add_argument("--force", action="store_true", help="decode unchanged studies again")


def run(args) -> int:
    results = decode_cohort(
        args.source, args.dataset, interim_root=args.interim_root, workers=args.workers, seed=args.seed, force=args.force
    )
    print(summary_table(results))
    return 1 if results and all(r.status == "failed" for r in results) else 0
