"""Compositing a fused set in its output geometry: camera pixels at full resolution where a view shows the scene,
the upsampled hypotheses where none does, at the model's size with output_size model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusionvae_core.data.framing import frame_image
from fusionvae_ros.output_geometry import output_geometry, resize_output
from fusionvae_ros.set_compositing import SetOutputs, composite_set, field_of_view

MODEL = 16
CAMERA = (160, 120)  # width, height: 10 camera pixels per model pixel across, 7.5 down


@dataclass(frozen=True)
class View:
    camera_size: tuple[int, int]
    registered: np.ndarray
    model_input: np.ndarray


def camera_view(seed: int, resize_mode: str = "resize", scale: int = 1) -> View:
    """A random RGB camera image (decoded at 1/scale) and its model input."""
    width, height = CAMERA[0] // scale, CAMERA[1] // scale
    registered = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return View(CAMERA, registered, frame_image(registered, MODEL, resize_mode))


def model_outputs(seed: int) -> SetOutputs:
    rng = np.random.default_rng(seed)
    hypotheses = rng.integers(0, 256, (2, MODEL, MODEL, 3), dtype=np.uint8)
    return SetOutputs(hypotheses, hypotheses[0], rng.random((MODEL, MODEL), dtype=np.float32))


def visibility() -> np.ndarray:
    """View 0 shows the left half, view 1 the top-right quadrant; the bottom-right quadrant is hidden."""
    maps = np.zeros((2, MODEL, MODEL), dtype=np.float32)
    maps[0, :, : MODEL // 2] = 1.0
    maps[1, : MODEL // 2, MODEL // 2 :] = 1.0
    return maps


def test_camera_output_keeps_full_resolution_pixels_where_seen_and_the_model_elsewhere() -> None:
    views = [camera_view(0), camera_view(1)]
    geometry = output_geometry(CAMERA, MODEL, "resize", "camera")
    outputs = model_outputs(2)
    composited = composite_set(views, visibility(), outputs, geometry)
    assert composited.hypotheses.shape == (2, CAMERA[1], CAMERA[0], 3) and composited.std.shape == CAMERA[::-1]
    # away from the soft edges (bilinear upsampling of the visibility), pixels are exactly the cameras' or the model's
    seen_by_0, seen_by_1, hidden = np.s_[:, :70], np.s_[:50, 90:], np.s_[70:, 90:]
    for composed in (*composited.hypotheses, composited.mean):
        np.testing.assert_array_equal(composed[seen_by_0], views[0].registered[seen_by_0])
        np.testing.assert_array_equal(composed[seen_by_1], views[1].registered[seen_by_1])
    upsampled = resize_output(outputs.hypotheses[1], CAMERA)
    np.testing.assert_array_equal(composited.hypotheses[1][hidden], upsampled[hidden])
    assert (composited.std[seen_by_0] == 0).all() and (composited.std[seen_by_1] == 0).all()
    np.testing.assert_allclose(composited.std[hidden], resize_output(outputs.std, CAMERA)[hidden])


def test_model_output_blends_the_model_inputs() -> None:
    views = [camera_view(3), camera_view(4)]
    geometry = output_geometry(CAMERA, MODEL, "resize", "model")
    composited = composite_set(views, visibility(), model_outputs(5), geometry)
    assert composited.hypotheses.shape == (2, MODEL, MODEL, 3)
    np.testing.assert_array_equal(composited.mean[:, :8], views[0].model_input[:, :8])


def test_field_of_view_follows_the_crop_and_a_reduced_scale_decode() -> None:
    crop = output_geometry(CAMERA, MODEL, "center_crop", "camera")
    full = camera_view(6)
    np.testing.assert_array_equal(field_of_view(full, crop), full.registered[:, 20:140])
    half = camera_view(7, scale=2)  # decoded at half size (JPEG DCT scaling): cut, then scaled to the output size
    pixels = field_of_view(half, crop)
    assert pixels.shape == (120, 120, 3)
    np.testing.assert_allclose(pixels[::2, ::2].mean(), half.registered[:, 10:70].mean(), atol=1.0)
