"""Phantom anatomy: spine with posterior elements and back muscles, tubular bowel."""

from __future__ import annotations

import numpy as np
import pytest

from liverlib.phantom import generate_phantom
from liverlib.phantom import intensities as T

BONE = (T.CANCELLOUS, T.CORTICAL)
BOWEL = (T.GUT_WALL, T.GUT_FLUID, T.GUT_GAS, T.STOOL)


@pytest.fixture(scope="module")
def phantoms():
    """Two noise-free phantoms at 5 mm slices (about 2 s each)."""
    return [generate_phantom(s, thickness=5.0, noise=False) for s in (4, 12)]


def _midline(p):
    """Column index of body-frame x = 0 and the pixel size (mm)."""
    dx = p.spacing[2]
    return int(round(-p.origin[0] / dx)), dx


def test_spinous_process_and_erector_spinae_behind_the_canal(phantoms):
    for p in phantoms:
        i0, dx = _midline(p)
        levels = with_bone = with_muscles = 0
        for k in range(p.tissue.shape[0]):
            mid = p.tissue[k, :, i0 - 1:i0 + 2]
            canal = np.nonzero((mid == T.CSF).any(axis=1))[0]
            if canal.size == 0 or not np.isin(p.tissue[k, :canal[0], i0], BONE + (T.DISC,)).any():
                continue  # no vertebra in this slice
            levels += 1
            back = canal.max() + 1
            # Bone (lamina, spinous process) within 45 mm behind the canal.
            if np.isin(mid[back:back + int(45 / dx)], BONE).any():
                with_bone += 1
            # Erector spinae: muscle about 25 mm either side, 15-30 mm behind the canal.
            rows = slice(back + int(15 / dx), back + int(30 / dx))
            left, right = (p.tissue[k, rows, i0 + s * int(25 / dx)] for s in (-1, 1))
            if (left == T.MUSCLE).mean() > 0.5 and (right == T.MUSCLE).mean() > 0.5:
                with_muscles += 1
        assert levels >= 20, levels
        assert with_bone / levels > 0.7, (with_bone, levels)
        assert with_muscles / levels > 0.8, (with_muscles, levels)


def test_discs_every_vertebra_and_bone_hu(phantoms):
    for p in phantoms:
        i0, _ = _midline(p)
        has_disc = (p.tissue[:, :, i0] == T.DISC).any(axis=1)
        starts = np.nonzero(has_disc & ~np.roll(has_disc, 1))[0]
        gaps = np.diff(starts) * p.spacing[0]
        assert len(starts) >= 5 and np.all((gaps >= 20) & (gaps <= 45)), gaps
        assert 70 <= p.tissue_hu[T.DISC] <= 110
        assert 500 <= p.tissue_hu[T.CORTICAL] <= 1000 and 150 <= p.tissue_hu[T.CANCELLOUS] <= 300


def test_psoas_grows_caudally(phantoms):
    for p in phantoms:
        i0, dx = _midline(p)
        # Muscle lateral to the vertebral body, anterior to the canal: psoas.
        area = []
        for k in range(p.tissue.shape[0]):
            canal = np.nonzero(p.tissue[k, :, i0] == T.CSF)[0]
            if canal.size == 0:
                area.append(0)
                continue
            rows = slice(max(0, canal[0] - int(50 / dx)), canal[0])
            cols = np.r_[i0 - int(70 / dx):i0 - int(20 / dx), i0 + int(20 / dx):i0 + int(70 / dx)]
            area.append(int((p.tissue[k, rows][:, cols] == T.MUSCLE).sum()))
        area = np.array(area)
        n = len(area)
        assert area[: n // 4].mean() > 2 * max(area[n // 2: 3 * n // 4].mean(), 1), area


def test_bowel_gas_fluid_stool_and_never_in_organs(phantoms):
    for p in phantoms:
        t = p.tissue
        counts = {c: int((t == c).sum()) for c in BOWEL}
        assert all(v > 500 for v in counts.values()), counts
        assert not np.isin(t[p.label > 0], BOWEL).any()
        # Colon on both flanks: gas or stool far right and far left of the midline.
        i0, dx = _midline(p)
        colon = np.isin(t, (T.GUT_GAS, T.STOOL))
        assert colon[:, :, : i0 - int(60 / dx)].sum() > 300 and colon[:, :, i0 + int(60 / dx):].sum() > 300
        # Small bowel is tubular: fluid lumen wrapped in wall, 2-3 cm loops.
        fluid = t == T.GUT_FLUID
        assert fluid.sum() > 2000


def test_bowel_keeps_off_solid_organs():
    """The bowel is painted last, only into free fat: the other organs are intact."""
    from liverlib.phantom import generator

    seen = {}
    orig = generator.paint_bowel

    def spy(tissue, *args):
        seen["before"] = tissue.copy()
        orig(tissue, *args)

    generator.paint_bowel = spy
    try:
        p = generate_phantom(21, thickness=5.0, noise=False)
    finally:
        generator.paint_bowel = orig
    changed = seen["before"] != p.tissue
    assert np.isin(seen["before"][changed], [T.VISCERAL_FAT]).all()
    organs = (T.LIVER, T.KIDNEY_CORTEX, T.KIDNEY_MEDULLA, T.SPLEEN, T.AORTA, T.IVC, T.PORTAL_VEIN)
    for c in organs:
        assert (seen["before"] == c).sum() == (p.tissue == c).sum() or c == T.LIVER


def test_liver_hole_finder_matches_scipy_fill_holes():
    from scipy import ndimage

    from liverlib.phantom.liver import _holes

    rng = np.random.default_rng(0)
    mask = ndimage.binary_opening(rng.uniform(size=(6, 40, 40)) < 0.55)
    mask[2, 10:15, 10:15] = True
    mask[2, 12, 12] = False  # a one-voxel hole in one slice
    mask[0, 5:9, 5:9] = True
    mask[0, 6:8, 6:8] = False  # a hole in the first slice
    mask[1:5, 25:33, 25:33] = True
    mask[2:4, 27:31, 27:31] = False  # a closed 3D pocket
    holes_3d = ndimage.binary_fill_holes(mask) & ~mask
    holes_2d = np.stack([ndimage.binary_fill_holes(s) for s in mask]) & ~mask
    assert np.array_equal(_holes(mask, in_plane=False), holes_3d)
    assert holes_2d.sum() > holes_3d.sum() > 0
    assert np.array_equal(_holes(mask, in_plane=True), holes_2d)


def test_mesenteric_vessels_in_front_of_the_aorta(phantoms):
    """Below the pancreas, arterial (aorta code) and portal-venous vessels lie in
    the fat in front of the aorta, apart from it, as the SMA and SMV do. They
    are painted into free fat only: in seed 12 the liver reaches in front of
    the aorta down there, so its SMV is absent (a known limit of the liver shape)."""
    from scipy import ndimage

    venous = 0
    for p in phantoms:
        below = np.nonzero((p.tissue == T.PANCREAS).any(axis=(1, 2)))[0].min()
        found = {T.AORTA: 0, T.PORTAL_VEIN: 0}
        for k in range(below):
            aorta_lab, n = ndimage.label(p.tissue[k] == T.AORTA)
            sizes = ndimage.sum(np.ones_like(aorta_lab), aorta_lab, range(1, n + 1))
            main = int(np.argmax(sizes)) + 1  # the aorta itself: the largest arterial blob
            front = np.nonzero(aorta_lab == main)[0].min()  # its anterior wall (row)
            for code in found:
                lab, m = ndimage.label((p.tissue[k] == code) & (aorta_lab != main))
                rows = [np.nonzero(lab == i)[0].mean() for i in range(1, m + 1)]
                found[code] += sum(r < front for r in rows)
        assert found[T.AORTA] > 0, found
        venous += found[T.PORTAL_VEIN]
    assert venous > 0


def test_liver_never_encircles_the_aorta_or_the_ivc(phantoms):
    """The aorta is retroperitoneal, and the IVC lies in a groove on the back of the
    liver with the right crus behind it: on no axial slice does the liver close
    around either (an encircled aorta or IVC is a round 35-50 HU hole in an
    unenhanced liver: a lesion look-alike), no liver lies behind the IVC's centre
    between it and the aorta, and the liver still lies beside the IVC, in front
    and laterally."""
    from scipy import ndimage

    touching = levels = 0
    for p in phantoms:
        liver = p.label > 0
        Y = p.origin[1] + p.spacing[1] * np.arange(liver.shape[1])[:, None]
        X = p.origin[0] + p.spacing[2] * np.arange(liver.shape[2])[None, :]
        for k in range(liver.shape[0]):
            holes = ndimage.binary_fill_holes(liver[k]) & ~liver[k]
            assert not (holes & np.isin(p.tissue[k], (T.AORTA, T.IVC))).any(), k
            ivc, aorta = p.tissue[k] == T.IVC, p.tissue[k] == T.AORTA
            if not (ivc.any() and aorta.any() and liver[k].any()):
                continue
            # The aorta itself: its largest blob (the SMA and its branches share its code).
            blobs, n = ndimage.label(aorta)
            aorta = blobs == 1 + int(np.argmax(ndimage.sum(aorta, blobs, range(1, n + 1))))
            behind = (Y > Y[np.nonzero(ivc)[0]].mean()) & (X > X[0, np.nonzero(ivc)[1]].min() + 3.0)
            behind &= X < X[0, np.nonzero(aorta)[1]].max()
            assert not (liver[k] & behind).any(), k
            levels += 1
            touching += bool((ndimage.binary_dilation(ivc, iterations=2) & liver[k]).any())
    assert levels > 10 and touching / levels > 0.5, (touching, levels)
