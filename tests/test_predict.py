"""Study prediction: view inversion, fusion, metrics and the NIfTI orientation round trip.

The "oracle" model is a 1x1 convolution with fixed weights that labels a pixel
by its HU (air/fat background, 150 HU liver, 400 HU "tumor": ordered so that
partial-volume edges between two tissues never look like the third), so a
correct pipeline recovers the reference label and any flip or transpose shows.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from liverlib import metrics
from liverlib.predict import (
    PredictParams,
    fuse,
    fused_slice_scores,
    label_from_probs,
    predict_path,
    predict_volume,
    reach_slices,
)
from liverlib.volume import Volume

SIZE = 32
PARAMS = PredictParams(image_size=SIZE, spacing_mm=2.0)


def oracle_model(size: int = SIZE):
    """seg: background below window value 0.25, liver 0.25..0.86, tumor above 0.86
    (channel 0 = abdomen window, (HU + 140) / 400); cancer: from the max tumor probability."""
    import keras
    from keras import layers

    k = 60.0
    inputs = keras.Input((size, size, 2), name="image")
    seg = layers.Conv2D(3, 1, activation="softmax", name="seg")(inputs)
    pooled = layers.GlobalMaxPooling2D(name="pool")(seg)
    cancer = layers.Dense(1, activation="sigmoid", name="cancer")(pooled)
    model = keras.Model(inputs, {"seg": seg, "cancer": cancer})
    kernel = np.zeros((1, 1, 2, 3), np.float32)
    kernel[0, 0, 0] = [-k, 0.0, k]  # classes: background, liver, tumor
    model.get_layer("seg").set_weights([kernel, np.array([0.25 * k, 0.0, -0.86 * k], np.float32)])
    model.get_layer("cancer").set_weights([np.array([[0.0], [0.0], [12.0]], np.float32), np.array([-6.0], np.float32)])
    return model


def labelled_study(shape=(24, 30, 28), spacing=(2.0, 2.0, 2.0)) -> Volume:
    """Fat-filled body with an off-centre liver (150 HU) and a tumor (400 HU) in it."""
    nz, ny, nx = shape
    _, y, x = np.mgrid[:nz, :ny, :nx]
    hu = np.full(shape, -1000, np.int16)
    hu[((y - ny / 2) / (ny / 2.1)) ** 2 + ((x - nx / 2) / (nx / 2.1)) ** 2 < 1] = -100
    label = np.zeros(shape, np.uint8)
    label[4:16, 6:20, 3:14] = 1
    label[8:13, 9:14, 5:10] = 2
    hu[label == 1] = 150
    hu[label == 2] = 400
    return Volume(hu=hu, spacing=spacing, case_id="case-a", label=label, origin=(-20.0, 15.0, -300.0))


@pytest.fixture(scope="module")
def model():
    return oracle_model()


def test_fusion_of_identical_views_is_the_view():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), (4, 4, 4)).astype(np.float32)
    fused = fuse({"axial": probs, "coronal": probs.copy(), "sagittal": probs.copy()})
    np.testing.assert_allclose(fused, probs, rtol=1e-6)
    a, b = np.zeros_like(probs), np.ones_like(probs)
    np.testing.assert_allclose(fuse({"axial": a, "coronal": b}), 0.5)


def test_predict_volume_recovers_label_and_views_agree(model):
    volume = labelled_study()
    pred = predict_volume(volume, model, PARAMS, batch_size=16)
    # A pixel-wise model sees the same voxel in every view: after undoing the
    # display orientation the three probability cubes must coincide.
    np.testing.assert_allclose(pred.cube_probs["coronal"], pred.cube_probs["axial"], atol=1e-5)
    np.testing.assert_allclose(pred.cube_probs["sagittal"], pred.cube_probs["axial"], atol=1e-5)
    probs = pred.study_probs()
    assert probs.shape == volume.shape + (3,) and pred.label.shape == volume.shape
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)
    m = pred.metrics
    assert m["dice"]["fused"]["liver"] > 0.9 and m["dice"]["fused"]["tumor"] > 0.75
    assert m["fusion_gain"]["liver"] == pytest.approx(0.0, abs=1e-3)  # identical views gain nothing
    assert m["lesions"]["recall"] == 1.0 and pred.volumetry["n_lesions"] >= 1
    true_ml = metrics.label_volumetry(volume.label, volume.voxel_ml)["liver_ml"]
    assert abs(m["volumetry_error"]["liver_ml_rel_error"]) < 0.15 and true_ml > 0
    assert pred.cancer_score > 0.9  # the tumor is seen in every view
    assert "cysts" not in m  # the source marked none
    assert pred.fused_cancer_score > 0.9 and pred.summary()["fused_cancer_score"] == pred.fused_cancer_score
    assert set(pred.view_scores) == {"axial", "coronal", "sagittal"}
    assert pred.timings["model_s"] > 0 and pred.timings["total_s"] >= pred.timings["model_s"]
    json.dumps(pred.summary())  # JSON-ready, NaN-free


def test_study_metrics_count_the_cysts_called_tumor(model):
    volume = labelled_study()
    cyst = np.zeros(volume.shape, bool)
    cyst[5:8, 15:19, 10:13] = True  # a cyst as bright as the tumor: the HU model calls it tumor
    cyst[13:16, 7:10, 4:7] = True  # one like the liver: left alone
    volume.hu[5:8, 15:19, 10:13] = 400
    volume.cyst = cyst
    assert (volume.label[cyst] == 1).all()
    m = predict_volume(volume, model, PARAMS, batch_size=16).metrics
    assert m["cysts"] == {"n_cysts": 2, "called_tumor": 1, "false_lesions_on_cysts": 1}
    assert m["lesions"]["false_positive"] >= 1


def test_two_passes_predict_the_liver_box_finer_and_keep_the_first_pass_outside(model):
    volume = labelled_study()
    blob = (slice(20, 23), slice(22, 26), slice(20, 24))  # liver-like HU away from the liver, reference 0
    volume.hu[blob] = 150
    params = PredictParams(image_size=SIZE, spacing_mm=1.0, crop="liver", liver_margin_mm=4.0)
    pred = predict_volume(volume, model, params, batch_size=16)
    assert pred.body_grid is not None and pred.grid.cube_spacing_mm < pred.body_grid.cube_spacing_mm
    assert pred.liver_at_box_edge is False  # the margin kept the liver off the box's faces
    assert pred.timings["box_cube_s"] > 0 and pred.body_consensus.shape == (SIZE,) * 3
    # The blob is a smaller component than the liver: outside the box, labelled by the first pass.
    assert (pred.label[blob] == 1).mean() > 0.9
    truth = volume.label.copy()
    truth[blob] = 1
    dice = metrics.region_dice(pred.label, truth)
    assert dice["liver"] > 0.9 and dice["tumor"] > 0.75
    probs = pred.study_probs()
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)
    assert not np.isnan(probs).any()
    # Labelled slab by slab (here 5 slices, the last slab shorter) = labelled on the whole grid at once,
    # for the fused cube and a single view alike (the first pass fills beyond the box in every slab).
    whole = label_from_probs(probs, params.tumor_threshold)
    np.testing.assert_array_equal(pred.label, whole)
    fused_5, axial_5 = pred.labels_on_study_grid([pred.fused_cube, pred.cube_probs["axial"]], slab=5)
    np.testing.assert_array_equal(fused_5, whole)
    np.testing.assert_array_equal(axial_5, label_from_probs(pred.view_probs("axial"), params.tumor_threshold))
    assert volume.shape[0] % 5 and (whole == 2).any() and (whole == 1).any()
    summary = pred.summary()
    assert summary["passes"] == 2 and summary["pixel_mm"] < summary["body_grid"]["cube_side"] / SIZE
    one = predict_volume(volume, model, PARAMS, batch_size=16)
    assert one.body_grid is None and one.summary()["passes"] == 1
    # Back into the body cube, the two-pass result agrees with the one-pass result on the liver.
    back = pred.fused_in(pred.body_grid)
    one_body = predict_volume(volume, model, PredictParams(image_size=SIZE, spacing_mm=1.0), batch_size=16)
    assert metrics.dice(back.argmax(-1) == 1, one_body.fused_cube.argmax(-1) == 1) > 0.9


def test_liver_box_grows_when_the_liver_reaches_its_faces(model, monkeypatch):
    import liverlib.predict as predict_module
    from liverlib.liver_box import liver_box_grid, mask_box_mm

    volume = labelled_study()
    lo, hi = mask_box_mm(volume.label > 0, volume.spacing)
    seen_lo = lo + np.array([10.0, 0.0, 0.0])

    def short_sighted(grid, cube_label, margin_mm):  # a first pass that missed the liver's lower 10 mm
        return liver_box_grid(grid, seen_lo, hi, margin_mm), (seen_lo, hi)

    monkeypatch.setattr(predict_module, "locate_liver", short_sighted)
    # 0.5 mm steps: a box of SIZE steps (16 mm) is smaller than the liver, so the short box cuts it.
    params = PredictParams(image_size=SIZE, spacing_mm=0.5, crop="liver", liver_margin_mm=2.0)
    pred = predict_volume(volume, model, params, batch_size=16)
    assert pred.passes == 3 and pred.liver_at_box_edge is False
    assert metrics.region_dice(pred.label, volume.label)["liver"] > 0.9
    # Widened around the liver found (three margins), not around the short box: each side sits
    # 6 mm out from the liver, the lower z side included (within a cube voxel of 1-2 steps).
    expected = liver_box_grid(pred.body_grid, lo, hi, 6.0).body_box
    np.testing.assert_allclose(np.asarray(pred.grid.body_box), np.asarray(expected), atol=4)
    no_liver_at_faces = np.zeros((SIZE,) * 3, bool)
    assert predict_module._grown_box(pred.body_grid, pred.grid, (lo, hi), no_liver_at_faces, 2.0) is None


def test_older_manifests_predict_in_one_pass():
    assert PredictParams.from_manifest({"image_size": 128}).crop == "body"  # built before the liver box
    liver = PredictParams.from_manifest({"crop": "liver", "liver_margin_mm": 5})
    assert liver.crop == "liver" and liver.liver_margin_mm == 5.0
    assert PredictParams.from_manifest(liver.to_dict()) == liver  # what summary.json records reads back
    # Slices built before the anti-aliasing: their models are fed unblurred cubes, as they were trained.
    assert not PredictParams.from_manifest({"image_size": 128}).antialias and PredictParams().antialias


def test_predict_feeds_the_model_cubes_made_as_its_dataset_was(model):
    from liverlib.cube import AIR_HU, to_cube

    volume = labelled_study(spacing=(2.0, 0.5, 0.5))  # finer than the liver box: blurred when anti-aliased
    cubes = {}
    for antialias in (True, False):
        params = PredictParams(image_size=SIZE, spacing_mm=1.0, crop="liver", liver_margin_mm=4.0, antialias=antialias)
        pred = predict_volume(volume, model, params, batch_size=16)
        assert pred.passes == 2
        cubes[antialias] = to_cube(volume.hu, pred.grid, order=1, fill=AIR_HU, antialias=antialias)
        np.testing.assert_array_equal(pred.cube_hu, cubes[antialias])
    assert not np.array_equal(cubes[True], cubes[False])  # the flag changes what the model sees here


def test_no_liver_in_the_first_pass_keeps_one_pass():
    blind = oracle_model()
    kernel, bias = blind.get_layer("seg").get_weights()
    blind.get_layer("seg").set_weights([np.zeros_like(kernel), np.array([5.0, 0.0, 0.0], np.float32)])
    params = PredictParams(image_size=SIZE, spacing_mm=1.0, crop="liver")
    pred = predict_volume(labelled_study(), blind, params, batch_size=16)
    assert pred.passes == 1 and pred.body_grid is None and pred.liver_at_box_edge is None
    assert (pred.label == 0).all() and pred.summary()["passes"] == 1


def test_fused_result_in_the_dataset_liver_box_matches_its_slices(model):
    from liverlib.cube import to_cube
    from liverlib.liver_box import dataset_grid

    volume = labelled_study()
    params = PredictParams(image_size=SIZE, spacing_mm=1.0, crop="liver", liver_margin_mm=4.0)
    pred = predict_volume(volume, model, params, batch_size=16)
    slices_grid = dataset_grid(volume, 1.0, SIZE, "liver", 4.0)  # placed on the reference liver, not the predicted
    ref = to_cube(volume.label, slices_grid, order=0, fill=0, dtype=np.uint8)
    read = pred.fused_in(slices_grid).argmax(-1)
    assert metrics.dice(read == 1, ref == 1) > 0.9 and metrics.dice(read == 2, ref == 2) > 0.75
    # The consensus of the views is read into the same cube.
    consensus = pred.tumor_consensus_in(slices_grid)
    assert consensus.shape == read.shape and not np.isnan(consensus).any()
    assert metrics.dice(consensus >= 0.5, ref == 2) > 0.7


def test_fused_slice_scores_index_each_view_and_ignore_a_stray_voxel():
    cube = np.zeros((12, 12, 12), np.float32)
    cube[2:5, 6:9, 8:11] = 1.0  # a 3-voxel lesion centred at z 3, y 7, x 9
    cube[9, 1, 1] = 1.0  # one stray voxel
    scores = fused_slice_scores(cube)
    # axial k = cube[k] (k = z); coronal j = cube[::-1, j, :] (j = y); sagittal i = cube[::-1, :, i] (i = x).
    assert int(np.argmax(scores["axial"])) == 3 and int(np.argmax(scores["coronal"])) == 7
    assert int(np.argmax(scores["sagittal"])) == 9
    assert scores["axial"][3] == pytest.approx(1.0) and scores["axial"][9] == pytest.approx(1 / 27)
    raw = fused_slice_scores(cube, smooth=1)
    assert raw["axial"][9] == 1.0  # unsmoothed, the stray voxel would count as much as the lesion
    # With a reach of 2 slices, a slice averages its own score with the largest within 2 slices of it.
    reach = fused_slice_scores(cube, reach=2)
    own = scores["axial"]
    for k in range(12):
        assert reach["axial"][k] == pytest.approx(0.5 * (own[k] + own[max(0, k - 2) : k + 3].max()))
    assert reach["sagittal"][9] == scores["sagittal"][9]  # a slice's own score stays when it is the largest
    # Slices past the lesion gain from it but fall off with distance, never tying with the lesion's own
    # slices (the largest value alone tied them: a perfect segmentation would not rank perfectly).
    assert reach["axial"][3] == pytest.approx(1.0)
    assert reach["axial"][3] > reach["axial"][4] > reach["axial"][5] > reach["axial"][6] > own[6]
    assert reach_slices(1.9) == 3 and reach_slices(2.8) == 2 and reach_slices(1.9, reach_mm=0) == 0
    # Read inside the predicted foreground only: the stray voxel, where the model says background, scores 0.
    background = np.zeros_like(cube)
    background[9, 1, 1] = 0.6
    inside = fused_slice_scores(cube, background=background)
    assert inside["axial"][9] == 0.0 and inside["axial"][3] == pytest.approx(scores["axial"][3])


def test_tumor_consensus_needs_every_view():
    from liverlib.predict import tumor_consensus

    def probs(tumor):  # (1, 1, 2, 3) cube: background, liver, tumor
        t = np.asarray(tumor, np.float32).reshape(1, 1, 2)
        return np.stack([np.zeros_like(t), 1 - t, t], axis=-1)

    # Voxel 0: one view sees tumor (a dark spot it alone calls tumor); voxel 1: all three agree on 0.3.
    views = {"axial": probs([0.9, 0.3]), "coronal": probs([0.05, 0.3]), "sagittal": probs([0.05, 0.3])}
    consensus = tumor_consensus(views)
    mean = fuse(views)[..., 2]
    assert consensus.shape == (1, 1, 2) and consensus.dtype == np.float32
    assert consensus[0, 0, 1] == pytest.approx(0.3) and consensus[0, 0, 0] == pytest.approx((0.9 * 0.05 ** 2) ** (1 / 3))
    assert mean[0, 0, 0] > mean[0, 0, 1] and consensus[0, 0, 0] < consensus[0, 0, 1]  # the ranking turns
    # A view at exactly 0 pulls the voxel to the floor's share, not to NaN or -inf.
    views["coronal"] = probs([0.0, 0.3])
    assert tumor_consensus(views)[0, 0, 0] == pytest.approx((0.9 * 1e-4 * 0.05) ** (1 / 3), rel=1e-4)


def test_fused_study_score_is_the_largest_agreed_tumor_inside_the_liver():
    from liverlib.predict import fused_study_score

    def views(tumor, background=0.0):
        t = np.zeros((6, 6, 6), np.float32)
        t[1:4, 1:4, 1:4] = tumor  # a 3-voxel lesion
        b = np.full_like(t, background)
        cube = np.stack([b, 1 - b - t, t], axis=-1)
        return {"axial": cube, "coronal": cube, "sagittal": cube}

    assert fused_study_score(views(0.8)) == pytest.approx(0.8)  # smoothing keeps a 3-voxel lesion's centre
    spike = views(0.0)
    for cube in spike.values():
        cube[4, 4, 4] = (0, 0.2, 0.8)  # one voxel: the 3x3x3 mean leaves a 27th of it (and of the floor around)
    assert fused_study_score(spike) == pytest.approx((0.8 + 26 * 1e-4) / 27, rel=1e-4)
    assert fused_study_score(spike, smooth=1) == pytest.approx(0.8)
    assert fused_study_score(views(0.0)) < 1e-3
    one_view = views(0.8)
    one_view["coronal"] = one_view["sagittal"] = views(0.0)["axial"]
    assert fused_study_score(one_view) < 0.05  # one view alone: (0.8 * 1e-4 * 1e-4) ** (1/3)
    assert fused_study_score(views(0.3, background=0.6)) == 0.0  # where the views call it background


def test_results_read_into_a_cube_beyond_both_passes():
    """The liver-box pass inside its box, the first pass beyond it, fixed values beyond both."""
    from liverlib.cube import StudyGrid
    from liverlib.predict import StudyPrediction

    def grid(start, side):  # a 40^3 study at 1 mm, cubes of 10^3 voxels
        return StudyGrid((40, 40, 40), (1.0, 1.0, 1.0), 1.0, (40, 40, 40), ((0, 39),) * 3, (start,) * 3, side, 10)

    body, box, target = grid(0, 20), grid(5, 10), grid(0, 40)  # target voxel i: study 1.5 + 4 i
    ones = np.ones((10, 10, 10), np.float32)

    def probs(tumor):
        return np.stack([0 * ones, (1 - tumor) * ones, tumor * ones], axis=-1)

    views = {"axial": probs(0.8), "coronal": probs(0.2), "sagittal": probs(0.05)}  # consensus 0.2, mean 0.35
    pred = StudyPrediction("c", box, PredictParams(image_size=10), ones, views, {}, None, {}, 0.0, {}, 1.0,
                           body_grid=body, body_probs=probs(0.6), body_consensus=0.5 * ones)
    consensus, fused = pred.tumor_consensus_in(target), pred.fused_in(target)
    assert not np.isnan(consensus).any() and not np.isnan(fused).any()
    assert consensus[2, 2, 2] == pytest.approx(0.2) and fused[2, 2, 2, 2] == pytest.approx(0.35)  # in the box
    assert consensus[0, 0, 0] == pytest.approx(0.5) and fused[0, 0, 0, 2] == pytest.approx(0.6)  # first pass only
    assert consensus[0, 0, 7] == 0 and tuple(fused[0, 0, 7]) == (1, 0, 0)  # beyond every cube: background


def test_fused_slice_scores_rank_tumor_slices_first(model):
    from sklearn.metrics import roc_auc_score

    from liverlib.cube import to_cube
    from liverlib.views import view_slices

    volume = labelled_study()
    pred = predict_volume(volume, model, PARAMS, batch_size=64)
    ref = to_cube(volume.label, pred.grid, order=0, fill=0, dtype=np.uint8)
    from liverlib.predict import tumor_consensus

    for view, scores in fused_slice_scores(tumor_consensus(pred.cube_probs)).items():
        has_tumor = (view_slices(ref, view) == 2).any(axis=(1, 2))
        assert scores.shape == (SIZE,) and has_tumor.any()
        assert roc_auc_score(has_tumor, scores) > 0.97, view  # tumor slices on top
        # Partial volume and the 3-voxel smoothing reach a slice or two past the tumor; beyond, ~0.
        near = np.convolve(has_tumor, np.ones(5), mode="same") > 0
        assert scores[has_tumor].max() > 0.9 and scores[~near].max() < 0.05, view


def test_no_tumor_gives_low_score(model):
    volume = labelled_study()
    volume.hu[volume.label == 2] = 150
    volume.label[volume.label == 2] = 1
    pred = predict_volume(volume, model, PARAMS, batch_size=64)
    assert pred.volumetry["n_lesions"] == 0 and pred.cancer_score < 0.1 and pred.fused_cancer_score < 0.1
    assert np.isnan(pred.metrics["lesions"]["recall"])


def _world_centroid(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    ijk = np.argwhere(mask).mean(axis=0)
    return (affine @ np.append(ijk, 1.0))[:3]


@pytest.mark.parametrize("axcodes", [("R", "A", "S"), ("L", "P", "I"), ("A", "S", "L")])
def test_nifti_round_trip_lands_on_input_voxels(tmp_path, model, axcodes):
    import nibabel as nib

    from liverlib.nifti_io import write_volume_nifti

    volume = labelled_study()
    study = tmp_path / "lits"
    write_volume_nifti(volume.hu, volume, study / "volume-7.nii.gz", axcodes=axcodes)
    write_volume_nifti(volume.label, volume, study / "segmentation-7.nii.gz", axcodes=axcodes)
    summary = predict_path(study / "volume-7.nii.gz", tmp_path / "none.keras", tmp_path / "out",
                           manifest=PARAMS.to_dict(), model=model, case_id="lits-7")
    ref = nib.load(study / "segmentation-7.nii.gz")
    out = nib.load(tmp_path / "out" / "mask.nii.gz")
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.affine, ref.affine, atol=1e-4)
    mask, truth = np.asarray(out.dataobj), np.asarray(ref.dataobj)
    assert set(np.unique(mask)) <= {0, 1, 2}
    assert metrics.dice(mask > 0, truth > 0) > 0.9  # voxel for voxel, in the file's own order
    assert metrics.dice(mask == 2, truth == 2) > 0.75
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["case_id"] == "lits-7" and written["input"]["layout"] == "lits"
    assert written["metrics"]["dice"]["fused"]["liver"] > 0.9
    assert (tmp_path / "out" / "overlay.png").stat().st_size > 1000
    assert summary["files"]["mask"].endswith("mask.nii.gz")


def test_dicom_prediction_world_coordinates_and_cli(tmp_path, model, capsys):
    import nibabel as nib
    from PIL import Image

    from liverlib.cli import main
    from liverlib.dicom_write import write_dicom_series

    volume = labelled_study()
    write_dicom_series(volume.hu, volume.spacing, tmp_path / "series", origin=volume.origin, flip=(True, False, True))
    model_path = tmp_path / "run" / "best_model.keras"
    model_path.parent.mkdir()
    model.save(model_path)
    # A liver-box model: two passes, and the mask must still land on the right voxels.
    (model_path.parent / "preprocessing.json").write_text(json.dumps({**PARAMS.to_dict(), "crop": "liver"}))
    code = main(["predict", str(tmp_path / "series"), "--model", str(model_path), "--out",
                 str(tmp_path / "pred"), "--batch-size", "40"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "2 passes through the model: the body cube, then the liver box (1 pass)" in printed
    out = nib.load(tmp_path / "pred" / "mask.nii.gz")
    mask = np.asarray(out.dataobj)
    # Where the tumor is in the world (RAS mm) must not depend on how it was stored.
    expected = _world_centroid(np.transpose(volume.label == 2, (2, 1, 0)), volume.affine_ras())
    got = _world_centroid(mask == 2, out.affine)
    np.testing.assert_allclose(got, expected, atol=2.0)
    summary = json.loads((tmp_path / "pred" / "summary.json").read_text())
    assert summary["metrics"] is None and summary["input"]["has_label"] is False
    assert summary["n_lesions"] == 1 and summary["tumor_ml"] > 0
    assert f"{summary['fused_cancer_score']:.3f} (fused volume)" in printed and summary["fused_cancer_score"] > 0.5
    assert summary["model"]["file"] == "best_model.keras"
    text = json.dumps(summary)
    assert str(tmp_path) not in text  # no local paths (they may name a person)
    assert Image.open(tmp_path / "pred" / "overlay.png").size == (768, 256)
    assert summary["preprocessing"]["tumor_threshold"] == 0.5  # no calibration.json: the argmax
    assert summary["passes"] == 2 and summary["preprocessing"]["crop"] == "liver"
    # A calibration.json made for this model is used; --tumor-threshold overrides it.
    from liverlib.saved_model import CALIBRATION_FILE, model_digest

    (model_path.parent / CALIBRATION_FILE).write_text(
        json.dumps({"tumor_threshold": 0.05, "model_sha256": model_digest(model_path)}))
    assert main(["predict", str(tmp_path / "series"), "--model", str(model_path), "--out", str(tmp_path / "cal")]) == 0
    calibrated = json.loads((tmp_path / "cal" / "summary.json").read_text())
    assert calibrated["preprocessing"]["tumor_threshold"] == 0.05
    assert calibrated["tumor_ml"] >= summary["tumor_ml"]  # a lower threshold never shrinks the tumor
    assert main(["predict", str(tmp_path / "series"), "--model", str(model_path), "--out", str(tmp_path / "arg"),
                 "--tumor-threshold", "0.5"]) == 0
    assert json.loads((tmp_path / "arg" / "summary.json").read_text())["preprocessing"]["tumor_threshold"] == 0.5
    assert summary["model_patient"] is None and "training patients" not in printed
    # The same study listed among the model's training patients: predicted, with a warning.
    from liverlib.saved_model import patients_record

    record = json.loads((model_path.parent / "preprocessing.json").read_text())
    record.update(patients_record({"train": [summary["case_id"]], "valid": []}))
    (model_path.parent / "preprocessing.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "series"), "--model", str(model_path), "--out", str(tmp_path / "seen")]) == 0
    assert "warning: this study is one of the model's training patients" in capsys.readouterr().out
    assert json.loads((tmp_path / "seen" / "summary.json").read_text())["model_patient"] == "train"


def test_context_model_gets_neighbour_channels(model):
    """A 2.5D model (4 channels: the slice's 2 windows + 2 neighbours) runs
    through predict_volume, and a 2D model is refused for 2.5D preprocessing."""
    import keras
    from keras import layers

    inputs = keras.Input((SIZE, SIZE, 4), name="image")
    own = layers.Lambda(lambda t: t[..., :2])(inputs)
    out = model(own)
    ctx_model = keras.Model(inputs, {"seg": out["seg"], "cancer": out["cancer"]})
    params = PredictParams(image_size=SIZE, spacing_mm=2.0, context_slices=1)
    pred = predict_volume(labelled_study(), ctx_model, params, batch_size=16)
    assert pred.metrics["dice"]["fused"]["liver"] > 0.9
    with pytest.raises(ValueError, match="does not match"):
        predict_volume(labelled_study(), model, params)
    # Without preprocessing given, the neighbours are read off the model's 4 input channels.
    assert predict_volume(labelled_study(), ctx_model, None, batch_size=16).metrics["dice"]["fused"]["liver"] > 0.5


class _RecordingModel:
    """Stands in for the network: records every input batch, returns zeros."""

    def __init__(self):
        self.inputs = []

    def predict_on_batch(self, x):
        self.inputs.append(np.array(x))
        n, s = x.shape[0], x.shape[1]
        return {"seg": np.zeros((n, s, s, 3), np.float32), "cancer": np.zeros((n, 1), np.float32)}


def test_predict_stack_builds_the_training_inputs_and_keeps_air_neighbours():
    """With 2.5D input, predict_stack feeds exactly ``slice_inputs`` (what the
    dataset stores), and an air slice next to the body is still run (its
    neighbours are not air), while air far from it is skipped."""
    from liverlib.predict import predict_stack
    from liverlib.views import CONTEXT_STEP, slice_inputs

    windows = [(60, 400), (60, 150)]
    stack = np.full((10, 8, 8), -1024.0, np.float32)
    stack[4:6] = 100.0  # body in slices 4 and 5 only
    model = _RecordingModel()
    predict_stack(model, stack, windows, batch_size=64, context_slices=1)
    x = np.concatenate(model.inputs)
    assert x.shape[-1] == 4
    run = sorted({i for i in range(10) if any(np.array_equal(x[j], slice_inputs(stack, [i], windows, 1)[0])
                                              for j in range(len(x)))})
    near = {i for i in range(10) if any(4 <= i + o <= 5 for o in (-CONTEXT_STEP, 0, CONTEXT_STEP))}
    assert near <= set(run)  # slices 2-7: the body or a neighbour is in them
    assert len(x) == len(near) + 1  # plus one representative all-air slice


def test_a_liver_cut_off_by_the_scan_range_or_field_of_view_is_said():
    from liverlib.predict import study_edges_touched

    liver = np.zeros((20, 30, 30), bool)
    liver[5:15, 8:22, 8:22] = True
    assert study_edges_touched(liver) == []
    top = liver.copy()
    top[15:, 8:22, 8:22] = True  # the dome runs out of the scan range
    assert study_edges_touched(top) == ["superior end"]
    wide = liver.copy()
    wide[5:15, 8:22, 0:22] = True  # the right lobe beyond the field of view
    assert study_edges_touched(wide) == ["field of view"]
    speck = liver.copy()
    speck[0, 0, 0] = True  # one stray voxel is not a cut liver
    assert study_edges_touched(speck) == [] and study_edges_touched(np.zeros_like(liver)) == []
