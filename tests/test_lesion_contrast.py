import numpy as np
import pytest

from liverlib.cancer_misses import cancer_by_group
from liverlib.lesion_contrast import contrast_groups, hu_from_window, tumor_contrast
from liverlib.views import apply_windows

WINDOW = (60.0, 400.0)


def _slice(liver_hu: float, tumor_hu: float, tumor: bool = True, at_edge: bool = False):
    """A 32 px slice: fat around a liver disc, a 5 px lesion in it (or filling a corner of it)."""
    yy, xx = np.mgrid[:32, :32]
    label = np.zeros((32, 32), np.uint8)
    label[(yy - 16) ** 2 + (xx - 16) ** 2 < 12**2] = 1
    hu = np.where(label == 1, liver_hu, -100.0)
    if tumor:
        lesion = (yy - 16) ** 2 + (xx - 16) ** 2 < 3**2
        if at_edge:  # the whole liver cut is lesion: no liver beside it
            lesion = label == 1
        label[lesion] = 2
        hu[lesion] = tumor_hu
    return apply_windows(hu, [WINDOW]), label


def test_hu_from_window_undoes_the_window():
    hu = np.array([-140.0, 0.0, 60.0, 115.0, 260.0])
    assert hu_from_window(apply_windows(hu, [WINDOW])[..., 0], WINDOW) == pytest.approx(hu, abs=1e-3)


def test_tumor_contrast_is_tumor_minus_the_liver_ring_in_hu():
    slices = [_slice(115, 60), _slice(115, 125), _slice(115, 0, tumor=False), _slice(60, 40, at_edge=True)]
    images = np.stack([s[0] for s in slices]).astype(np.float16)  # stored as the dataset stores them
    masks = np.stack([s[1] for s in slices])
    contrast = tumor_contrast(images, masks, WINDOW, chunk=3)  # chunks split the stack
    assert contrast[0] == pytest.approx(-55, abs=0.5)  # a metastasis in portal venous liver
    assert contrast[1] == pytest.approx(10, abs=0.5)
    assert np.isnan(contrast[2]) and np.isnan(contrast[3])  # no tumor; no liver beside it


def test_contrast_groups_cover_the_tumor_slices_once_and_rank_each_group():
    contrast = np.array([-55.0, -20.0, 3.0, 25.0, np.nan, np.nan, np.nan, np.nan])
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0])
    groups = contrast_groups(contrast, y)
    assert list(groups) == ["under -30 HU", "-30 to -10 HU", "-10 to 10 HU", "10 HU or more", "no liver beside it"]
    stacked = np.stack(list(groups.values()))
    assert (stacked.sum(0) == y).all()  # each tumor slice in one group, no tumor-free slice in any
    score = np.array([0.9, 0.7, 0.2, 0.05, 0.5, 0.1, 0.3, 0.6])
    rows = cancer_by_group(groups, y, {"s": score}, key="contrast")
    auc = {r["contrast"]: r["s AUC"] for r in rows}
    # Against the negatives 0.1, 0.3, 0.6: 0.9 and 0.7 beat all, 0.2 one, 0.05 none, 0.5 two.
    assert auc == {"under -30 HU": 1.0, "-30 to -10 HU": 1.0, "-10 to 10 HU": pytest.approx(1 / 3),
                   "10 HU or more": 0.0, "no liver beside it": pytest.approx(2 / 3)}
