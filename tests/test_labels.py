"""The label rules: threshold and small tumor components."""

from __future__ import annotations

import numpy as np

from liverlib.labels import drop_small_lesions


def test_tumor_specks_under_a_5_mm_sphere_become_liver():
    label = np.ones((12, 12, 12), np.uint8)
    label[1:4, 1:4, 1:4] = 2  # 27 voxels: 27 mm^3 at 1 mm, under a 5 mm sphere's 65 mm^3
    label[6:11, 6:11, 6:11] = 2  # 125 mm^3: a lesion
    label[0, 11, 11] = label[1, 10, 10] = 2  # two voxels touching at a corner: one 26-connected speck
    kept = label.copy()
    assert drop_small_lesions(label, (1.0, 1.0, 1.0), 5.0) == 2
    assert (label[1:4, 1:4, 1:4] == 1).all() and label[0, 11, 11] == 1 and label[1, 10, 10] == 1
    assert (label[6:11, 6:11, 6:11] == 2).all() and (label == 2).sum() == 125
    coarse = kept.copy()  # the same voxels at 2 mm are 8 times the volume: the 27-voxel one stays
    assert drop_small_lesions(coarse, (2.0, 2.0, 2.0), 5.0) == 1 and (coarse[1:4, 1:4, 1:4] == 2).all()
    untouched = kept.copy()
    assert drop_small_lesions(untouched, (1.0, 1.0, 1.0), 0.0) == 0 and (untouched == kept).all()
