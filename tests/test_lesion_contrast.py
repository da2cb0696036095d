import numpy as np
import pytest
from scipy import ndimage

from liverlib.cancer_misses import cancer_by_group
from liverlib.lesion_contrast import (
    CLIPPED,
    NO_LIVER,
    TOO_SMALL,
    contrast_groups,
    hu_from_window,
    tumor_contrast,
    widest_window,
)
from liverlib.views import apply_windows

WINDOW = (60.0, 400.0)


def _slice(liver_hu: float, tumor_hu: float, radius: float = 5, tumor: bool = True, fill_liver: bool = False,
           blur: float = 0.0, window=WINDOW):
    """A 48 px slice: fat around a liver disc, a round lesion in it (or a lesion that is all the liver's cut)."""
    yy, xx = np.mgrid[:48, :48]
    label = np.zeros((48, 48), np.uint8)
    label[(yy - 24) ** 2 + (xx - 24) ** 2 < 18**2] = 1
    hu = np.where(label == 1, liver_hu, -100.0)
    if tumor:
        lesion = label == 1 if fill_liver else (yy - 24) ** 2 + (xx - 24) ** 2 < radius**2
        label[lesion] = 2
        hu[lesion] = tumor_hu
    if blur:
        hu = ndimage.gaussian_filter(hu, blur)  # the partial volume of the scanner and the resampling
    return apply_windows(hu, [window])[..., 0], label


def _stack(*slices):
    images = np.stack([s[0] for s in slices])[..., None].astype(np.float16)  # stored as the dataset stores them
    return images, np.stack([s[1] for s in slices])


def test_hu_from_window_undoes_the_window_and_the_widest_window_is_read():
    hu = np.array([-140.0, 0.0, 60.0, 115.0, 260.0])
    assert hu_from_window(apply_windows(hu, [WINDOW])[..., 0], WINDOW) == pytest.approx(hu, abs=1e-3)
    assert widest_window([[60, 150], [60, 400]]) == (1, (60.0, 400.0))


def test_tumor_contrast_is_the_tumor_core_minus_a_liver_ring_in_hu():
    images, masks = _stack(_slice(115, 60), _slice(115, 125), _slice(115, 0, tumor=False),
                           _slice(60, 40, fill_liver=True), _slice(115, 60, radius=1.5))
    contrast, why = tumor_contrast(images, masks, WINDOW, chunk=3)  # chunks split the stack
    assert contrast[0] == pytest.approx(-55, abs=0.5)  # a metastasis in portal venous liver
    assert contrast[1] == pytest.approx(10, abs=0.5)
    assert np.isnan(contrast[2:]).all()
    assert list(why) == ["", "", "", NO_LIVER, TOO_SMALL]  # no tumor; no liver beside it; a 3 px lesion edge


def test_blur_does_not_make_a_small_lesion_look_faint():
    # A -55 HU lesion blurred by 1 px: on the whole mask against the liver next to it, a 5 px radius
    # lesion reads -40 HU and a 12 px one -44; the core against a ring a pixel away reads near -55.
    images, masks = _stack(_slice(115, 60, radius=5, blur=1.0), _slice(115, 60, radius=12, blur=1.0))
    contrast, _ = tumor_contrast(images, masks, WINDOW)
    assert contrast[0] == pytest.approx(-55, abs=8) and contrast[1] == pytest.approx(-55, abs=3)


def test_a_tumor_outside_the_window_is_not_measured():
    images, masks = _stack(_slice(115, -300))  # darker than the (60, 400) window's -140 HU floor
    contrast, why = tumor_contrast(images, masks, WINDOW)
    assert np.isnan(contrast[0]) and why[0] == CLIPPED


def test_contrast_groups_cover_the_tumor_slices_once_and_rank_each_group():
    contrast = np.array([-55.0, -20.0, 3.0, 25.0, np.nan, np.nan, np.nan, np.nan, np.nan])
    why = np.array(["", "", "", "", NO_LIVER, TOO_SMALL, "", "", ""], dtype=object)
    y = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0])
    groups = contrast_groups(contrast, why, y)
    assert list(groups) == ["under -30 HU", "-30 to -10 HU", "-10 to 10 HU", "10 HU or more",
                            TOO_SMALL, NO_LIVER, CLIPPED]
    stacked = np.stack(list(groups.values()))
    assert (stacked.sum(0) == y).all()  # each tumor slice in one group, no tumor-free slice in any
    score = np.array([0.9, 0.7, 0.2, 0.05, 0.5, 0.35, 0.1, 0.3, 0.6])
    rows = cancer_by_group(groups, y, {"s": score}, key="contrast")
    auc = {r["contrast"]: r["s AUC"] for r in rows}
    # Against the negatives 0.1, 0.3, 0.6: 0.9 and 0.7 beat all, 0.2 one, 0.05 none, 0.5 and 0.35 two.
    assert auc["under -30 HU"] == 1.0 and auc["-30 to -10 HU"] == 1.0 and auc["10 HU or more"] == 0.0
    assert auc["-10 to 10 HU"] == pytest.approx(1 / 3) and auc[NO_LIVER] == auc[TOO_SMALL] == pytest.approx(2 / 3)
    assert np.isnan(auc[CLIPPED])  # an empty group has no AUC
