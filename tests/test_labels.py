"""The label rules: threshold and small tumor components."""

from __future__ import annotations

import numpy as np

from liverlib.labels import cube_label, drop_small_lesions


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


def test_cube_label_is_the_label_with_the_small_lesion_rule():
    probs = np.zeros((12, 12, 12, 3), np.float32)
    probs[..., 0] = 1.0
    probs[2:10, 2:10, 2:10] = (0.1, 0.8, 0.1)  # liver
    probs[3:8, 3:8, 3:8] = (0.1, 0.2, 0.7)  # a 5-voxel lesion: 10 mm at 2 mm voxels
    probs[9, 9, 9] = (0.1, 0.3, 0.6)  # one voxel speck: 8 mm^3
    label = cube_label(probs, 0.5, 2.0)
    assert label[9, 9, 9] == 1 and (label[3:8, 3:8, 3:8] == 2).all()
    assert cube_label(probs, 0.5, 2.0, min_lesion_mm=0)[9, 9, 9] == 2  # 0 keeps every component
