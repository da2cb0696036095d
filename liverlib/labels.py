"""From fused class probabilities to the label 0/1/2 a study gets.

* :func:`label_from_probs`: the argmax, plus tumor wherever its probability
  reaches a threshold inside the foreground (the threshold is chosen on the
  validation split, :mod:`liverlib.calibrate`);
* :func:`drop_small_lesions`: tumor components smaller than a 5 mm sphere
  become liver, so specks do not count as lesions.

Only numpy and scipy: prediction, evaluation, calibration and the viewers share
these rules.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: Tumor components smaller than a sphere of this diameter (mm) become liver:
#: lesions under 5 mm are below what CT reports characterise.
MIN_LESION_MM = 5.0


def drop_small_lesions(label: np.ndarray, spacing, min_diameter_mm: float) -> int:
    """Relabel as liver, in place, every tumor component smaller than a sphere of ``min_diameter_mm``.

    At the calibrated threshold the fused label keeps specks of a few voxels
    (on 48 held-out phantoms 759 components for 125 lesions before this rule):
    each would count as a lesion. Lesions under 5 mm are below what CT reports
    characterise, and the phantoms' smallest lesions are 5 mm. The specks lie
    in the foreground (tumor needs P(background) < 0.5), so they become liver.
    Components are 26-connected, as :func:`liverlib.metrics.lesion_detection` counts them.

    Args:
        label: uint8 ``(z, y, x)`` 0/1/2, changed in place.
        spacing: ``(dz, dy, dx)`` in mm, e.g. ``(5.0, 0.7, 0.7)``.
        min_diameter_mm: e.g. 5.0 (a component under 65 mm^3 goes); 0 keeps all.

    Returns:
        How many components were relabelled.
    """
    if min_diameter_mm <= 0:
        return 0
    tumor = label == 2
    boxes = ndi.find_objects(tumor.view(np.uint8))
    if not boxes or boxes[0] is None:
        return 0
    box = boxes[0]  # the tumor's bounding box: a clinical study's grid is 50 M voxels, its tumors far fewer
    tumor = tumor[box]
    try:  # half the memory of int32 for the up to 65,535 components a study has
        components, n = ndi.label(tumor, structure=np.ones((3, 3, 3), bool), output=np.uint16)
    except RuntimeError:  # more components than uint16 holds (a model that calls noise tumor)
        components, n = ndi.label(tumor, structure=np.ones((3, 3, 3), bool))
    volumes = np.bincount(components.ravel(), minlength=n + 1)[1:] * float(np.prod(spacing))
    small = np.zeros(n + 1, bool)
    small[1:] = volumes < np.pi / 6 * float(min_diameter_mm) ** 3
    if small.any():
        label[box][small[components]] = 1
    return int(small.sum())


def label_from_probs(probs: np.ndarray, tumor_threshold: float = 0.5) -> np.ndarray:
    """Label 0/1/2 from class probabilities: the argmax, plus tumor wherever
    ``P(tumor) >= tumor_threshold`` inside the foreground (``P(background) < 0.5``).

    The mean of three views is less sure at a lesion's edge than each view
    (one view that misses the edge halves the others' probability), so the
    argmax of the fused volume shrinks tumors (on the demo test split to
    about 0.6 of their reference volume). A threshold under 0.5, chosen on
    the validation split (:mod:`liverlib.calibrate`), gives them back their
    edge; at 0.5 or above the label is the argmax.

    Args:
        probs: ``(..., 3)`` probabilities of background, liver, tumor.
        tumor_threshold: Tumor probability that makes a foreground voxel tumor.

    Returns:
        uint8 labels of shape ``probs.shape[:-1]``.
    """
    background, liver, tumor = probs[..., 0], probs[..., 1], probs[..., 2]
    # The argmax over three channels written out (ties go to the lower class, as np.argmax; a NaN
    # channel never wins, so NaN everywhere is background): a third faster.
    label = ((liver > background) & (liver >= tumor)).astype(np.uint8)
    label[(tumor > background) & (tumor > liver)] = 2
    if tumor_threshold < 0.5:
        label[(tumor >= tumor_threshold) & (background < 0.5)] = 2
    return label


def cube_label(probs: np.ndarray, tumor_threshold: float, voxel_mm: float, min_lesion_mm: float = MIN_LESION_MM) -> np.ndarray:
    """The fused label of an isotropic cube as a study's label is made: :func:`label_from_probs`,
    then tumor components under ``min_lesion_mm`` become liver (:func:`drop_small_lesions`).

    Evaluation, calibration and ``overlay.png`` read the cube through this, so
    none of them shows specks the study's ``mask.nii.gz`` does not have.

    Args:
        probs: ``(S, S, S, 3)`` fused probabilities.
        tumor_threshold: e.g. 0.1, as chosen by :mod:`liverlib.calibrate`.
        voxel_mm: The cube's voxel size, e.g. 1.9 mm in a liver box.
        min_lesion_mm: Smallest lesion diameter kept (0 keeps all).

    Returns:
        uint8 labels ``(S, S, S)``.
    """
    label = label_from_probs(probs, tumor_threshold)
    drop_small_lesions(label, (float(voxel_mm),) * 3, min_lesion_mm)
    return label
