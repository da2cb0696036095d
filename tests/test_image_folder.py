"""Importing a train/valid/test folder of slice images and masks."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from liverlib.errors import DatasetError
from liverlib.image_folder import import_image_folder
from liverlib.slice_dataset import load_split, read_manifest


def write_png(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def slice_pair(h=30, w=40, tumor=True):
    """A grey image and its 0/1/2 label: liver block left, tumor inside it."""
    label = np.zeros((h, w), np.uint8)
    label[5:20, 4:20] = 1
    if tumor:
        label[8:12, 8:12] = 2
    image = (50 + 80 * (label == 1) + 30 * (label == 2)).astype(np.uint8)
    return image, label


def write_csv(path, rows, columns=("image", "cancer", "view", "case_id")):
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(rows)


def make_folder(root):
    """train: one label image in 0/127/255; valid (as val/): liver + tumor masks,
    one RGB JPEG; test: 0/1/2 label image."""
    rows = []
    for name, tumor, view in (("a1", True, "axial"), ("a2", False, "coronal")):
        image, label = slice_pair(tumor=tumor)
        write_png(root / "train" / "images" / f"{name}.png", image)
        write_png(root / "train" / "masks" / f"{name}.png", np.array([0, 127, 255], np.uint8)[label])
        rows.append((f"{name}.png", int(tumor), view, "p1"))
    write_csv(root / "train" / "labels.csv", rows)

    image, label = slice_pair(tumor=True)
    rgb = np.stack([image] * 3, -1)
    (root / "val" / "images").mkdir(parents=True)
    Image.fromarray(rgb).save(root / "val" / "images" / "b1.jpg", quality=95)
    write_png(root / "val" / "liver_masks" / "b1.png", ((label > 0) * 255).astype(np.uint8))
    write_png(root / "val" / "tumor_masks" / "b1.png", ((label == 2) * 255).astype(np.uint8))
    write_csv(root / "val" / "labels.csv", [("b1", "yes", "sagittal", "p2")])

    image, label = slice_pair(h=40, w=40, tumor=False)
    write_png(root / "test" / "images" / "c1.png", image)
    write_png(root / "test" / "masks" / "c1.png", label)
    write_csv(root / "test" / "labels.csv", [("c1.png", 0)], columns=("image", "cancer"))
    return root


def test_import_keeps_splits_and_labels(tmp_path):
    src = make_folder(tmp_path / "folder")
    out = tmp_path / "out"
    manifest = import_image_folder(src, out, image_size=20, channels=1)
    assert manifest["skipped_build"] is False and manifest["source"]["folders"]["valid"] == "val"
    train, valid, test = (load_split(out, s) for s in ("train", "valid", "test"))
    assert train.images.shape == (2, 20, 20, 1) and valid.images.shape == (1, 20, 20, 1)
    assert train.cancer.tolist() == [1, 0] and train.view.tolist() == [0, 1]
    assert valid.cancer.tolist() == [1] and valid.view.tolist() == [2]
    assert test.cancer.tolist() == [0] and test.view.tolist() == [0] and test.case_id.tolist() == ["c1"]
    assert train.case_id.tolist() == ["p1", "p1"] and train.slice_index.tolist() == [0, 1]
    # 0/127/255 and liver/tumor masks both decode to 0/1/2.
    assert set(np.unique(train.masks[0])) == {0, 1, 2} and set(np.unique(valid.masks[0])) == {0, 1, 2}
    assert set(np.unique(test.masks[0])) == {0, 1}
    # 40x30 padded to a centred 40x40 square: the top and bottom 5 rows (2.5 px at 20) are black.
    assert float(train.images[0, 0].max()) == 0.0 and float(train.images[0, 10].max()) > 0.1
    # Intensity kept: liver pixels (130/255) read back near 0.51.
    liver = train.masks[1] == 1
    assert abs(float(np.median(train.images[1, ..., 0][liver])) - 130 / 255) < 0.02
    assert manifest["counts"]["train"]["cancer"] == 1 and read_manifest(out)["channels"] == 1
    again = import_image_folder(src, out, image_size=20, channels=1)
    assert again["skipped_build"] is True
    rgb = import_image_folder(src, tmp_path / "rgb", image_size=20, channels=3)
    assert load_split(tmp_path / "rgb", "valid").images.shape == (1, 20, 20, 3)
    assert rgb["channels"] == 3


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda r: (r / "train/masks/a2.png").unlink(), "a2.png: missing: no mask"),
        (lambda r: write_png(r / "train/masks/a1.png", np.zeros((10, 10), np.uint8)), "a1.png: mask is 10x10 but its image is 40x30"),
        (lambda r: write_png(r / "train/images/a3.png", np.zeros((30, 40), np.uint8)), "a3.png: has no row in labels.csv"),
        (lambda r: write_png(r / "train/masks/zz.png", np.zeros((30, 40), np.uint8)), "zz.png: mask without an image"),
        (lambda r: write_csv(r / "train/labels.csv", [("a1.png", 1, "axial"), ("a2.png", 1, "axial")], ("image", "cancer", "view")),
         "labels.csv: line 3: cancer=1 but the mask of a2.png has no tumor"),
        (lambda r: write_csv(r / "train/labels.csv", [("a1.png", 1, "oblique"), ("a2.png", 0, "axial")], ("image", "cancer", "view")),
         "labels.csv: line 2: view must be"),
        (lambda r: write_csv(r / "train/labels.csv", [("a1.png", 2), ("a2.png", 0)], ("image", "cancer")), "line 2: cancer must be 0/1"),
        (lambda r: write_csv(r / "train/labels.csv", [("a1.png", 1), ("a2.png", 0), ("a9.png", 0)], ("image", "cancer")),
         "a9: listed in labels.csv line 4 but no such image"),
        (lambda r: write_csv(r / "train/labels.csv", [("a1.png",), ("a2.png",)], ("image",)), "no 'cancer' column"),
        (lambda r: write_csv(r / "test/labels.csv", [("c1.png", 0, "axial", "p1")]), "case p1 is in both"),
        (lambda r: (r / "valid").mkdir(), "both valid/ and val/ exist"),
        (lambda r: write_png(r / "test/masks/c1.png", np.full((40, 40), 60, np.uint8)), "c1.png: mask values must be 0/1/2 or 0/127/255, found \\[60\\]"),
    ],
)
def test_errors_name_the_file(tmp_path, breakage, message):
    src = make_folder(tmp_path / "folder")
    breakage(src)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        import_image_folder(src, tmp_path / "out", image_size=16)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_cancer_source_can_trust_the_mask(tmp_path):
    src = make_folder(tmp_path / "folder")
    write_csv(src / "train/labels.csv", [("a1.png", 0), ("a2.png", 0)], ("image", "cancer"))
    import_image_folder(src, tmp_path / "out", image_size=16, cancer_source="mask")
    assert load_split(tmp_path / "out", "train").cancer.tolist() == [1, 0]


def test_missing_train_folder(tmp_path):
    (tmp_path / "folder" / "test").mkdir(parents=True)
    with pytest.raises(DatasetError, match="train: missing"):
        import_image_folder(tmp_path / "folder", tmp_path / "out")


def test_command_line(tmp_path, capsys):
    import argparse

    from liverlib import image_folder

    src = make_folder(tmp_path / "folder")
    parser = argparse.ArgumentParser()
    image_folder.add_arguments(parser)
    args = parser.parse_args(["--src", str(src), "--out", str(tmp_path / "out"), "--image-size", "12", "--channels", "3"])
    assert image_folder.run(args) == 0
    assert load_split(tmp_path / "out", "train").images.shape == (2, 12, 12, 3)
    assert "train: 2 slices (1 cancer)" in capsys.readouterr().out


def test_context_slices_ignored_for_an_image_folder(tmp_path, capsys):
    """Profiles ask for 2.5D input; a PNG slice has no neighbours, so the import
    goes on in 2D and says so."""
    from liverlib.cohort_pipeline import prepare_cohort

    src = make_folder(tmp_path / "folder")
    summary = prepare_cohort(src, "pngs", data_root=tmp_path / "data", image_size=20, context_slices=1)
    assert summary.manifest["channels"] == 1 and "context_slices 1 ignored" in capsys.readouterr().out


def test_a_binary_liver_mask_in_masks_is_named_as_the_likely_mistake(tmp_path):
    src = make_folder(tmp_path / "folder")
    image, label = slice_pair(tumor=False)
    write_png(src / "train" / "masks" / "a2.png", ((label > 0) * 255).astype(np.uint8))  # liver as 255
    with pytest.raises(DatasetError, match="a binary liver mask belongs in liver_masks/"):
        import_image_folder(src, tmp_path / "out", image_size=16)
