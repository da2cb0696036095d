"""Which slices the cancer call misses: its AUC by tumor size, and where 1 - AUC goes.

:func:`cancer_by_size` ranks the slices with tumor of each size group against
every tumor-free slice (:func:`cancer_by_group` does it for any grouping, e.g.
by the tumor's contrast to the liver, ``lesion_contrast``). :func:`auc_shortfall` splits 1 - AUC into the shares of
groups of slices on either side. The AUC is the chance that a slice with tumor
scores above one without (ties count half). So 1 - AUC is the mean, over the
slices with tumor, of each one's *miss*: the share of tumor-free slices scored
at least as high (ties half); and equally the mean, over the tumor-free slices,
of the share of slices with tumor scored no higher. A group's share of
1 - AUC is the sum of its slices' misses over the size of their side, so the
groups that cover one side add up to 1 - AUC exactly. Example (the demo model
on the 48 held-out phantoms, fused score, AUC 0.921, 2026-11-30): of the 0.079
lost, 0.036 is positives with 40 or more tumor pixels and 0.015 positives with
1-9; seen from the other side, 0.029 is the 17 % of tumor-free slices that lie
next to a slice with tumor.
"""

from __future__ import annotations

import numpy as np

#: Lower edges of the groups of :func:`cancer_by_size`, in tumor pixels per slice.
#: At 128 px a pixel of the demo's liver boxes is about 1.6 mm, so 10 px is a 6 mm
#: lesion cut through its middle and 40 px an 11 mm one (with whole-body slices,
#: about 2.8 mm pixels: 1 cm and 2 cm).
SIZE_EDGES = (1, 10, 40)


def cancer_by_size(tumor_pixels: np.ndarray, cancer_true: np.ndarray, scores: dict, threshold: float = 0.5,
                   edges=SIZE_EDGES) -> list[dict]:
    """How the cancer call depends on how much tumor a slice shows.

    Each group holds the slices with tumor whose tumor pixel count lies in
    ``[edges[k], edges[k + 1])``; its AUC ranks them against every slice
    without tumor, so the groups share their negatives and differ only in how
    hard their positives are.

    Args:
        tumor_pixels: ``(N,)`` reference tumor pixels per slice.
        cancer_true: ``(N,)`` 0/1 (1 where ``tumor_pixels > 0``).
        scores: Name -> ``(N,)`` scores, e.g. ``{"cancer head": ..., "fused 3D": ...}``;
            NaN entries are left out.
        threshold: Decision threshold of the sensitivity.
        edges: Increasing lower edges in pixels, the first >= 1.

    Returns:
        One row per group: ``{"tumor pixels": "1-9", "slices": n, "<name> AUC": ..,
        "<name> sensitivity": ..}``, plus ``"<name> slices"`` where a score with NaN
        entries covers fewer of the group's slices than ``"slices"``.
    """
    groups = size_groups(cancer_true, tumor_pixels, edges)
    return cancer_by_group(groups, cancer_true, scores, threshold, key="tumor pixels")


def size_groups(cancer_true: np.ndarray, tumor_pixels: np.ndarray, edges=SIZE_EDGES) -> dict:
    """Slices with tumor by tumor pixels: ``"1-9"`` -> ``(N,)`` bool mask, ..., ``">=40"``."""
    pixels = np.asarray(tumor_pixels)
    y = np.asarray(cancer_true).astype(bool)
    bounds = list(edges) + [np.inf]
    return {f"{lo}-{int(hi) - 1}" if np.isfinite(hi) else f">={lo}": y & (pixels >= lo) & (pixels < hi)
            for lo, hi in zip(bounds[:-1], bounds[1:])}


def cancer_by_group(groups: dict, cancer_true: np.ndarray, scores: dict, threshold: float = 0.5,
                    key: str = "group") -> list[dict]:
    """The cancer call on groups of slices with tumor, each against every tumor-free slice.

    Args:
        groups: Name -> ``(N,)`` bool mask of slices with tumor, e.g. by size
            (:func:`cancer_by_size`) or by contrast to the liver
            (``lesion_contrast.contrast_groups``).
        cancer_true: ``(N,)`` 0/1 per slice.
        scores: Name -> ``(N,)`` scores; NaN entries are left out.
        threshold: Decision threshold of the sensitivity.
        key: Column that names the group.

    Returns:
        One row per group: ``{key: name, "slices": n, "<score> AUC": ..,
        "<score> sensitivity": ..}`` (``"<score> slices"`` where NaN scores
        leave fewer); NaN where a group or a side is empty.
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(cancer_true).astype(bool)
    rows = []
    for name, group in groups.items():
        group = np.asarray(group, bool) & y
        row = {key: name, "slices": int(group.sum())}
        for score_name, score in scores.items():
            score = np.asarray(score, float)
            pos = group & ~np.isnan(score)
            neg = ~y & ~np.isnan(score)
            both = pos.any() and neg.any()
            sel = pos | neg
            row[f"{score_name} AUC"] = float(roc_auc_score(y[sel], score[sel])) if both else float("nan")
            row[f"{score_name} sensitivity"] = float((score[pos] >= threshold).mean()) if pos.any() else float("nan")
            if pos.sum() != group.sum():  # a score with NaN entries covers fewer slices
                row[f"{score_name} slices"] = int(pos.sum())
        rows.append(row)
    return rows


def slice_misses(cancer_true: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each slice's miss against the other side (see the module docstring).

    Args:
        cancer_true: ``(N,)`` 0/1, 1 where the slice holds tumor.
        score: ``(N,)`` cancer scores, no NaN.

    Returns:
        ``(N,)`` float: for a slice with tumor, the share of tumor-free slices
        scored above it plus half those tied; for a tumor-free slice, the
        share of slices with tumor scored below it plus half those tied.
    """
    y = np.asarray(cancer_true).astype(bool)
    s = np.asarray(score, float)
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    miss = np.zeros(len(s))
    if not pos.size or not neg.size:
        return miss
    sp, sn = s[y], s[~y]
    above = neg.size - np.searchsorted(neg, sp, side="right")
    tied = np.searchsorted(neg, sp, side="right") - np.searchsorted(neg, sp, side="left")
    miss[y] = (above + 0.5 * tied) / neg.size
    below = np.searchsorted(pos, sn, side="left")
    tied = np.searchsorted(pos, sn, side="right") - below
    miss[~y] = (below + 0.5 * tied) / pos.size
    return miss


def next_to_tumor(cancer_true: np.ndarray, case_ids: np.ndarray, views: np.ndarray,
                  slice_index: np.ndarray) -> np.ndarray:
    """Tumor-free slices whose neighbour among the sampled slices of the same
    study and view (the one before or after by slice index) holds tumor.

    Args:
        cancer_true: ``(N,)`` 0/1 per slice.
        case_ids: ``(N,)`` study of each slice.
        views: ``(N,)`` view of each slice.
        slice_index: ``(N,)`` index of the slice along its view's axis.

    Returns:
        ``(N,)`` bool, False for every slice with tumor.
    """
    y = np.asarray(cancer_true).astype(bool)
    order = np.lexsort((np.asarray(slice_index), np.asarray(views), np.asarray(case_ids)))
    same = (np.asarray(case_ids)[order][1:] == np.asarray(case_ids)[order][:-1]) & (
        np.asarray(views)[order][1:] == np.asarray(views)[order][:-1])  # consecutive slices of one stack
    tumor = y[order]
    beside = np.zeros(len(y), bool)
    beside[1:] |= same & tumor[:-1]
    beside[:-1] |= same & tumor[1:]
    out = np.zeros(len(y), bool)
    out[order] = beside & ~tumor
    return out


def slice_groups(cancer_true, tumor_pixels, case_ids, views, slice_index, edges=SIZE_EDGES) -> dict:
    """The groups 04 reports: slices with tumor by tumor pixels, tumor-free
    slices by where they lie.

    Returns:
        Group name -> ``(N,)`` bool mask; the groups of each side cover it:
        ``"tumor, 1-9 px"``, ``"tumor, 10-39 px"``, ``"tumor, >=40 px"`` and
        ``"no tumor, next to a tumor slice"``, ``"no tumor, elsewhere in a
        patient with tumor"``, ``"no tumor, patient without tumor"``.
    """
    y = np.asarray(cancer_true).astype(bool)
    case_ids = np.asarray(case_ids)
    groups = {f"tumor, {name} px": mask for name, mask in size_groups(y, tumor_pixels, edges).items()}
    beside = next_to_tumor(y, case_ids, views, slice_index)
    patient_has_tumor = np.isin(case_ids, np.unique(case_ids[y]))
    groups["no tumor, next to a tumor slice"] = beside
    groups["no tumor, elsewhere in a patient with tumor"] = ~y & ~beside & patient_has_tumor
    groups["no tumor, patient without tumor"] = ~y & ~patient_has_tumor
    return groups


def auc_shortfall(cancer_true: np.ndarray, scores: dict, groups: dict) -> list[dict]:
    """1 - AUC of each score split into the groups' shares.

    Args:
        cancer_true: ``(N,)`` 0/1 per slice.
        scores: Name -> ``(N,)`` scores, e.g. ``{"cancer head": ..., "fused 3D": ...}``;
            slices with a NaN score are left out of that score's figures.
        groups: Name -> ``(N,)`` bool mask, each inside one side (``slice_groups``).

    Returns:
        One row per group, ``{"group": name, "slices": n, "<score> share of 1-AUC":
        .., "<score> mean score": ..}`` (plus ``"<score> slices"`` where NaN
        scores leave that score fewer of the group's slices), then a row
        ``"all (1 - AUC)"`` whose shares are each score's 1 - AUC. Every share
        is NaN where a score has no slice on one side (no AUC).
    """
    y = np.asarray(cancer_true).astype(bool)
    rows = [{"group": name, "slices": int(np.sum(mask))} for name, mask in groups.items()]
    total = {"group": "all (1 - AUC)", "slices": len(y)}
    for name, score in scores.items():
        score = np.asarray(score, float)
        ok = ~np.isnan(score)
        miss = np.zeros(len(y))
        miss[ok] = slice_misses(y[ok], score[ok])
        n_pos, n_neg = int((y & ok).sum()), int((~y & ok).sum())
        defined = n_pos > 0 and n_neg > 0  # an AUC needs both sides
        for row, given in zip(rows, groups.values()):
            mask = np.asarray(given) & ok
            side = n_pos if (mask & y).any() else n_neg
            row[f"{name} share of 1-AUC"] = float(miss[mask].sum() / side) if defined else float("nan")
            row[f"{name} mean score"] = float(score[mask].mean()) if mask.any() else float("nan")
            if int(mask.sum()) != row["slices"]:  # this score covers fewer of the group's slices
                row[f"{name} slices"] = int(mask.sum())
        total[f"{name} share of 1-AUC"] = float(miss[y & ok].sum() / n_pos) if defined else float("nan")
        total[f"{name} mean score"] = float(score[ok].mean()) if ok.any() else float("nan")
    return rows + [total]
