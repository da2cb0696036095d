"""The overlay PNG of a prediction: three views through the largest lesion."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from liverlib.slice_dataset import VIEWS
from liverlib.views import view_slices


def focus_point(cube_label: np.ndarray) -> tuple[int, int, int]:
    """Cube voxel through which to show the views: centre of the largest lesion,
    else of the liver, else of the cube."""
    from scipy import ndimage as ndi

    for mask in (cube_label == 2, cube_label > 0):
        if mask.any():
            lab, n = ndi.label(mask, structure=np.ones((3, 3, 3)))
            sizes = np.bincount(lab.ravel())[1:]
            centre = ndi.center_of_mass(lab == int(np.argmax(sizes)) + 1)
            return tuple(int(round(c)) for c in centre)
    return tuple(s // 2 for s in cube_label.shape)


def save_overlay_png(pred, path: str | Path) -> Path:
    """Axial, coronal and sagittal cube slices (of a ``predict.StudyPrediction``) through the largest lesion, with the
    fused label drawn over them (liver green, tumor red), as one PNG."""
    from PIL import Image, ImageDraw

    from liverlib.labels import cube_label as fused_label
    from liverlib.viewer_eval import overlay_rgb

    # the label mask.nii.gz holds, on the cube: no tumor specks under min_lesion_mm
    cube_label = fused_label(pred.fused_cube, pred.params.tumor_threshold, pred.grid.cube_spacing_mm,
                             pred.params.min_lesion_mm)
    k, j, i = focus_point(cube_label)
    index = {"axial": k, "coronal": j, "sagittal": i}
    panels = []
    for view in VIEWS:
        n = index[view]
        rgb = overlay_rgb(view_slices(pred.cube_hu, view)[n], view_slices(cube_label, view)[n])
        img = Image.fromarray(rgb).resize((256, 256), Image.NEAREST)
        ImageDraw.Draw(img).text((4, 4), f"{view} {n}", fill=(255, 255, 0))
        panels.append(img)
    sheet = Image.new("RGB", (256 * len(panels), 256))
    for n, img in enumerate(panels):
        sheet.paste(img, (256 * n, 0))
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    sheet.save(tmp)
    os.replace(tmp, path)
    return path
