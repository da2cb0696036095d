"""Patient-level train/valid/test splits, stratified by tumor presence.

Splits are made over cases (patients), never over slices, so no patient's
anatomy is seen in training and scored in test. The split follows the order
the cases are given in, not their ids: decode gives them in the order of their
source folders (``phantom-000``, ``phantom-001``, ...), so the same seed and
the same sources give the same split in every checkout, although each
checkout's secret salt gives the studies other pseudonyms.
"""

from __future__ import annotations

import numpy as np

from liverlib.errors import DatasetError

DEFAULT_FRACTIONS = {"train": 0.7, "valid": 0.15, "test": 0.15}


def assign_splits(
    case_ids: list[str],
    has_tumor: list[bool],
    fractions: dict[str, float] | None = None,
    seed: int = 0,
) -> dict[str, str]:
    """Give each case a split, stratified by whether it has a tumor.

    Args:
        case_ids: Pseudonymous case ids, in a salt-independent order (decode
            uses the sources' order); the draw depends on that order only.
        has_tumor: Per case, True when its label holds tumor voxels.
        fractions: Split name -> fraction, e.g. ``{"train": 0.7, "valid": 0.15,
            "test": 0.15}``; must sum to 1.
        seed: Shuffling seed.

    Returns:
        case id -> split name. With at least three cases every split gets one.
    """
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    names = list(fractions)
    result: dict[str, str] = {}
    rng = np.random.default_rng(seed)
    for stratum in (True, False):
        members = [case for case, tumor in zip(case_ids, has_tumor, strict=True) if bool(tumor) == stratum]
        members = [members[i] for i in rng.permutation(len(members))]
        # Largest-remainder allocation, so small strata still fill the splits fairly.
        raw = np.array([fractions[n] * len(members) for n in names])
        counts = np.floor(raw).astype(int)
        for i in np.argsort(-(raw - counts))[: len(members) - counts.sum()]:
            counts[i] += 1
        start = 0
        for name, count in zip(names, counts, strict=True):
            for case in members[start : start + count]:
                result[case] = name
            start += count
    _ensure_each_split(result, names, has_tumor_by_case=dict(zip(case_ids, has_tumor, strict=True)))
    return {case: result[case] for case in case_ids if case in result}


def _ensure_each_split(result: dict[str, str], names: list[str], has_tumor_by_case: dict) -> None:
    # Tiny cohorts (smoke tests) can leave a split empty; move one case from
    # the largest split into it, preferring a tumor case for the test split.
    if len(result) < len(names):
        return
    for name in names:
        if name in result.values():
            continue
        donor = max(names, key=lambda n: list(result.values()).count(n))
        candidates = [c for c in has_tumor_by_case if result.get(c) == donor]  # the given order
        tumor_first = sorted(candidates, key=lambda c: not has_tumor_by_case.get(c, False))
        result[tumor_first[0]] = name


def check_disjoint(case_ids_by_split: dict[str, list[str]], where: str = "splits") -> None:
    """Refuse any case that appears in two splits."""
    seen: dict[str, str] = {}
    for split, cases in case_ids_by_split.items():
        for case in set(cases):
            if case in seen and seen[case] != split:
                raise DatasetError(where, f"case {case} is in both {seen[case]} and {split}: splits must be by patient")
            seen[case] = split
