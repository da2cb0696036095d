"""Building the three-view slice dataset from an interim cache."""

from __future__ import annotations

import argparse
import csv

import numpy as np
import pytest

from liverlib import build_dataset
from liverlib.build_dataset import build_slice_dataset, select_slices
from liverlib.cube import AIR_HU, to_cube
from liverlib.errors import DatasetError
from liverlib.interim import CASE_COLUMNS, save_case, write_cases
from liverlib.liver_box import dataset_grid
from liverlib.slice_dataset import SPLITS, load_split, read_manifest
from liverlib.views import view_slices
from liverlib.volume import Volume

SIZE = 24


def phantom(case_id: str, tumor: bool, shift: int = 0) -> Volume:
    shape = (16, 30, 34)
    hu = np.full(shape, -1000, np.int16)
    hu[1:15, 3:27, 3:31] = 30  # body
    label = np.zeros(shape, np.uint8)
    label[4:11, 6 + shift : 16 + shift, 6:18] = 1
    hu[label == 1] = 110
    if tumor:
        label[6:9, 9 + shift : 13 + shift, 9:13] = 2
        hu[label == 2] = 60
    return Volume(hu=hu, spacing=(3.0, 1.2, 1.0), case_id=case_id, label=label)


def make_interim(folder, splits=None, extra_rows=()):
    splits = splits or {"c-a": "train", "c-b": "train", "c-c": "valid", "c-d": "test"}
    rows = []
    for i, (case, split) in enumerate(sorted(splits.items())):
        vol = phantom(case, tumor=i % 2 == 0, shift=i)
        save_case(folder, vol)
        rows.append({"case_id": case, "layout": "phantom", "shape": "x".join(map(str, vol.shape)),
                     "spacing": "", "liver_ml": 1.0, "tumor_ml": 0.0, "n_lesions": 0, "split": split})
    write_cases(folder, rows + list(extra_rows))
    return folder


BUILD = dict(image_size=SIZE, spacing_mm=2.0, windows=[(60, 400), (60, 150)], slice_stride=2,
             liver_free_fraction=0.5, seed=3, progress=False)


def cut_cube(volume: Volume, crop: str, spacing_mm: float = BUILD["spacing_mm"], margin_mm: float = 10.0):
    """HU and label cubes of the grid the dataset cuts ``volume`` from, and the grid."""
    grid = dataset_grid(volume, spacing_mm, SIZE, crop, margin_mm)
    return (to_cube(volume.hu, grid, order=1, fill=AIR_HU), to_cube(volume.label, grid, order=0, fill=0, dtype=np.uint8),
            grid)


def test_select_slices_keeps_liver_on_stride_and_some_body():
    n = 12
    labels = np.zeros((n, 4, 4), np.uint8)
    labels[3:10, 1, 1] = 1
    hu = np.full((n, 4, 4), -1000.0)
    hu[1:11, 2, 2] = 40  # slices 0 and 11 are air only
    only_liver = select_slices(labels, hu, liver_free_fraction=0.0, slice_stride=2)
    assert only_liver.tolist() == [3, 5, 7, 9]
    everything = select_slices(labels, hu, liver_free_fraction=1.0, slice_stride=1)
    assert everything.tolist() == list(range(1, 11))  # never the air-only slices
    half = select_slices(labels, hu, liver_free_fraction=0.5, slice_stride=1, rng=np.random.default_rng(1))
    assert len(half) == 7 + 2 and set(range(3, 10)) <= set(half.tolist())
    with pytest.raises(ValueError):
        select_slices(labels, hu, slice_stride=0)


def test_build_writes_contract_and_manifest(tmp_path):
    interim = make_interim(tmp_path / "interim")
    out = tmp_path / "processed" / "24"
    manifest = build_slice_dataset(interim, out, **BUILD)
    assert manifest["skipped_build"] is False and manifest["failures"] == []
    assert manifest["image_size"] == SIZE and manifest["channels"] == 2 and manifest["antialias"] is True
    assert manifest["windows"] == [[60.0, 400.0], [60.0, 150.0]]
    assert manifest["splits"] == {"train": ["c-a", "c-b"], "valid": ["c-c"], "test": ["c-d"]}
    assert read_manifest(out)["fingerprint"] == manifest["fingerprint"]
    for split in SPLITS:
        data = load_split(out, split)
        counts = manifest["counts"][split]
        assert len(data) == counts["n"] > 0
        assert data.images.shape[1:] == (SIZE, SIZE, 2) and data.images.dtype == np.float16
        assert 0.0 <= float(data.images.min()) and float(data.images.max()) <= 1.0
        assert set(np.unique(data.masks)) <= {0, 1, 2}
        # cancer = any tumor pixel in the slice's mask.
        np.testing.assert_array_equal(data.cancer, (data.masks == 2).any(axis=(1, 2)))
        assert set(data.view.tolist()) == {0, 1, 2}
        assert set(data.case_id.tolist()) == set(manifest["splits"][split])
        for v, name in enumerate(("axial", "coronal", "sagittal")):
            assert counts[name]["n"] == int(np.sum(data.view == v))
    assert not (out / ".build").exists()
    train = load_split(out, "train")
    assert train.cancer.sum() > 0 and (train.cancer == 0).sum() > 0


@pytest.mark.parametrize("crop", ["body", "liver"])
def test_build_slices_match_the_views(tmp_path, crop):
    interim = make_interim(tmp_path / "interim")
    out = tmp_path / "out"
    # 1 mm steps: the tiny phantom's body cube has 2 mm pixels, its liver box can be finer.
    manifest = build_slice_dataset(interim, out, **{**BUILD, "spacing_mm": 1.0}, crop=crop, liver_margin_mm=4.0)
    assert manifest["crop"] == crop
    data = load_split(out, "valid")  # case c-c alone
    volume = phantom("c-c", tumor=True, shift=2)
    cube_hu, cube_label, grid = cut_cube(volume, crop, 1.0, 4.0)
    body = dataset_grid(volume, 1.0, SIZE, "body")
    if crop == "liver":  # a smaller box, so finer pixels, holding the whole liver
        assert grid.cube_spacing_mm < body.cube_spacing_mm
        assert grid.cube_spacing_mm >= 1.0  # never finer than the resampling step
        liver_ml = (cube_label > 0).sum() * grid.cube_spacing_mm ** 3 / 1000
        assert liver_ml == pytest.approx((volume.label > 0).sum() * volume.voxel_ml, rel=0.2)
    else:
        assert grid == body
    for v, view in enumerate(("axial", "coronal", "sagittal")):
        labels = view_slices(cube_label, view)
        liver_slices = np.flatnonzero(labels.max(axis=(1, 2)) > 0)
        mine = data.slice_index[data.view == v]
        # Every second liver slice from the first, all present.
        assert set(liver_slices[::2].tolist()) <= set(mine.tolist())
        for row in np.flatnonzero(data.view == v):
            np.testing.assert_array_equal(data.masks[row], labels[data.slice_index[row]])
        k = int(mine[0])
        expected = np.clip((view_slices(cube_hu, view)[k] + 140) / 400, 0, 1)
        first = np.flatnonzero(data.view == v)[0]
        np.testing.assert_allclose(data.images[first, ..., 0], expected, atol=2e-3)


def test_rebuild_is_skipped_until_inputs_or_params_change(tmp_path):
    interim = make_interim(tmp_path / "interim")
    out = tmp_path / "out"
    first = build_slice_dataset(interim, out, **BUILD)
    stamp = (out / "train" / "images.npy").stat().st_mtime_ns
    again = build_slice_dataset(interim, out, **BUILD)
    assert again["skipped_build"] is True and again["fingerprint"] == first["fingerprint"]
    assert (out / "train" / "images.npy").stat().st_mtime_ns == stamp
    assert build_slice_dataset(interim, out, force=True, **BUILD)["skipped_build"] is False
    changed = build_slice_dataset(interim, out, **{**BUILD, "slice_stride": 1})
    assert changed["skipped_build"] is False and changed["fingerprint"] != first["fingerprint"]
    assert changed["counts"]["train"]["n"] > first["counts"]["train"]["n"]
    # Same seed, same arrays.
    other = tmp_path / "other"
    build_slice_dataset(interim, other, **BUILD)
    build_slice_dataset(interim, out, **BUILD)
    np.testing.assert_array_equal(load_split(out, "train").slice_index, load_split(other, "train").slice_index)


def test_bad_cases_are_reported_and_skipped(tmp_path):
    interim = make_interim(tmp_path / "interim")
    save_case(interim, Volume(hu=np.zeros((4, 5, 6), np.int16), spacing=(1, 1, 1), case_id="c-nolabel"))
    (interim / "c-broken.npz").write_bytes(b"not a zip")
    rows = list(csv.DictReader((interim / "cases.csv").open()))
    rows += [dict(rows[0], case_id="c-nolabel", split="train"), dict(rows[0], case_id="c-broken", split="test")]
    write_cases(interim, rows)
    manifest = build_slice_dataset(interim, tmp_path / "out", **BUILD)
    reasons = {f["case_id"]: f["reason"] for f in manifest["failures"]}
    assert set(reasons) == {"c-nolabel", "c-broken"}
    assert "has no label" in reasons["c-nolabel"]
    assert "c-broken" not in manifest["splits"]["test"] and manifest["counts"]["test"]["cases"] == 1


def test_split_problems_are_refused(tmp_path):
    interim = make_interim(tmp_path / "a", splits={"c-a": "train", "c-b": ""})
    with pytest.raises(DatasetError, match="c-b has split"):
        build_slice_dataset(interim, tmp_path / "out", **BUILD)
    twice = make_interim(tmp_path / "b", splits={"c-a": "train", "c-b": "test"},
                         extra_rows=[{c: "" for c in CASE_COLUMNS} | {"case_id": "c-a", "split": "test"}])
    with pytest.raises(DatasetError, match="c-a is in both"):
        build_slice_dataset(twice, tmp_path / "out", **BUILD)
    with pytest.raises(DatasetError, match="cases.csv"):
        build_slice_dataset(tmp_path / "empty", tmp_path / "out", **BUILD)


def test_command_line_arguments(tmp_path, capsys):
    interim = make_interim(tmp_path / "interim")
    parser = argparse.ArgumentParser()
    build_dataset.add_arguments(parser)
    args = parser.parse_args([
        "--interim", str(interim), "--out", str(tmp_path / "out"), "--image-size", "16",
        "--spacing-mm", "2.5", "--window", "60,400", "--window", "40,80", "--views", "axial", "coronal",
        "--slice-stride", "3", "--liver-free-fraction", "0",
    ])
    assert args.window == [(60.0, 400.0), (40.0, 80.0)]
    assert build_dataset.run(args) == 0
    manifest = read_manifest(tmp_path / "out")
    assert manifest["views"] == ["axial", "coronal"] and manifest["channels"] == 2
    assert manifest["counts"]["train"]["sagittal"]["n"] == 0
    assert "train:" in capsys.readouterr().out


def test_context_slices_add_neighbour_channels(tmp_path):
    from liverlib.views import slice_inputs

    interim = make_interim(tmp_path / "interim")
    out = tmp_path / "out"
    manifest = build_slice_dataset(interim, out, **{**BUILD, "context_slices": 1})
    assert manifest["context_slices"] == 1 and manifest["channels"] == 4
    data = load_split(out, "valid")
    assert data.images.shape[-1] == 4
    cube_hu, _, _ = cut_cube(phantom("c-c", tumor=True, shift=2), "liver")  # the default crop
    row = int(np.flatnonzero(data.view == 1)[0])
    expected = slice_inputs(view_slices(cube_hu, "coronal"), [data.slice_index[row]], BUILD["windows"], 1)[0]
    np.testing.assert_allclose(data.images[row], expected, atol=2e-3)
    assert manifest["context_step"] >= 1
    with pytest.raises(ValueError, match="context_slices"):
        build_slice_dataset(interim, tmp_path / "neg", **{**BUILD, "context_slices": -1})


def test_the_same_studies_under_other_ids_give_the_same_arrays(tmp_path):
    # Case ids are salted per checkout; cases.csv's order (the sources') decides
    # the arrays' order and each study's draw of liver-free slices, so another
    # checkout's ids (here sorting the other way round) change nothing else.
    built = []
    for name, ids in (("one", ["c-a", "c-b", "c-c", "c-d", "c-e"]), ("two", ["z-9", "z-5", "z-4", "z-2", "z-1"])):
        folder = tmp_path / name
        rows = []
        for i, (case, split) in enumerate(zip(ids, ["train", "train", "train", "valid", "test"], strict=True)):
            vol = phantom(case, tumor=i % 2 == 0, shift=i)
            save_case(folder, vol)
            rows.append({"case_id": case, "layout": "phantom", "shape": "", "spacing": "", "liver_ml": 1.0,
                         "tumor_ml": 0.0, "n_lesions": 0, "split": split})
        write_cases(folder, rows)
        build_slice_dataset(folder, tmp_path / f"{name}_out", **BUILD)
        built.append(tmp_path / f"{name}_out")
    for split in SPLITS:
        one, two = load_split(built[0], split), load_split(built[1], split)
        np.testing.assert_array_equal(one.images, two.images)
        np.testing.assert_array_equal(one.masks, two.masks)
        np.testing.assert_array_equal(one.slice_index, two.slice_index)
    assert list(dict.fromkeys(load_split(built[1], "train").case_id)) == ["z-9", "z-5", "z-4"]
