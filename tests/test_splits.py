"""Patient-level splits: stratified, and independent of the (salted) case ids."""

from __future__ import annotations

import pytest

from liverlib.errors import DatasetError
from liverlib.splits import assign_splits, check_disjoint

TUMOR = [True, True, False, True, True, True, False, True, True, True, True, False, True, True, True, True, True, True, True, False]


def test_split_follows_the_order_not_the_ids():
    ids = [f"case-{i:02d}" for i in range(len(TUMOR))]
    renamed = [f"other-{99 - i:02d}" for i in range(len(TUMOR))]  # sorts the other way round
    first = list(assign_splits(ids, TUMOR, seed=4).values())
    second = assign_splits(renamed, TUMOR, seed=4)
    assert list(second) == renamed  # the given order
    assert list(second.values()) == first
    assert list(assign_splits(ids, TUMOR, seed=5).values()) != first  # the seed does matter


def test_split_is_stratified_by_tumor():
    split = assign_splits([f"c{i}" for i in range(len(TUMOR))], TUMOR, seed=0)
    # Largest remainder per stratum: 16 with tumor 11.2 / 2.4 / 2.4 -> 11 / 3 / 2 (a tie goes to the
    # earlier split), 4 without 2.8 / 0.6 / 0.6 -> 3 / 1 / 0.
    for stratum, expected in ((True, [11, 3, 2]), (False, [3, 1, 0])):
        members = [split[f"c{i}"] for i, t in enumerate(TUMOR) if t == stratum]
        assert [members.count(name) for name in ("train", "valid", "test")] == expected


def test_tiny_cohort_fills_every_split_and_overlap_is_refused():
    split = assign_splits(["a", "b", "c"], [True, False, True], seed=0)
    assert sorted(split.values()) == ["test", "train", "valid"]
    with pytest.raises(DatasetError, match="c1"):
        check_disjoint({"train": ["c1", "c2"], "test": ["c1"]})
