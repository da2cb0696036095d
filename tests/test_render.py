"""Rendering: HU windows, label overlays and outlines, PNG encoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from liverlib import render


def test_window_grey_maps_level_and_edges():
    grey = render.window_grey(np.array([-1000, -140, 60, 260, 2000]), level=60, width=400)
    assert grey.tolist()[0] == 0 and grey.tolist()[1] == 0
    assert grey[2] in (127, 128)
    assert grey.tolist()[3:] == [255, 255]


def test_render_slice_overlays_only_masked_pixels():
    hu = np.full((8, 8), 60.0)
    label = np.zeros((8, 8), np.uint8)
    label[2:4, 2:4] = 1
    label[5, 5] = 2
    plain = render.render_slice(hu, label, opacity=0.0)
    assert (plain == plain[0, 0]).all()  # opacity 0: grey everywhere
    both = render.render_slice(hu, label, opacity=0.5)
    assert (both[0, 0] == plain[0, 0]).all()
    assert both[2, 2, 1] > both[2, 2, 0]  # liver green
    assert both[5, 5, 0] > both[5, 5, 1]  # tumor red, drawn over liver
    # ... over the grey alone, no green under it (red over green looked brown)
    assert np.array_equal(both[5, 5], np.rint(0.5 * plain[5, 5] + 0.5 * np.array(render.TUMOR_RGB)).astype(np.uint8))
    no_tumor = render.render_slice(hu, label, tumor=False, opacity=0.5)
    assert no_tumor[5, 5, 1] > no_tumor[5, 5, 0]  # tumor pixel still shows as liver
    none = render.render_slice(hu, label, liver=False, tumor=False, opacity=0.5)
    assert (none == plain).all()


def test_png_bytes_resizes():
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:8] = 255
    image = np.asarray(Image.open(io.BytesIO(render.png_bytes(rgb, 64))))
    assert image.shape == (64, 64, 3)
    assert image[:32].min() == 255 and image[32:].max() == 0


def test_outline_labels_draws_reference_edges_only():
    ref = np.zeros((9, 9), np.uint8)
    ref[2:7, 2:7] = 1
    ref[4, 4] = 2
    grey = np.full((9, 9), 100, np.uint8)
    out = render.outline_labels(render.overlay_labels(grey), ref)
    assert tuple(out[2, 4]) == render.REFERENCE_RGB[1]  # liver edge cyan
    assert tuple(out[4, 4]) == render.REFERENCE_RGB[2]  # a one-pixel tumor is all edge: yellow
    assert tuple(out[3, 3]) == (100, 100, 100) and tuple(out[0, 0]) == (100, 100, 100)  # inside and outside untouched


def test_png_scale_and_compression():
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, :8] = 200
    big = np.asarray(Image.open(io.BytesIO(render.png_bytes(rgb, scale=3))))
    assert big.shape == (48, 48, 3) and big[:, :24].min() == 200 and big[:, 24:].max() == 0
    noise = np.random.default_rng(0).integers(0, 4, (64, 64, 3)).astype(np.uint8)
    assert len(render.png_bytes(noise, compress_level=9)) < len(render.png_bytes(noise, compress_level=1))
    assert render.png_data_uri(rgb).startswith("data:image/png;base64,")
