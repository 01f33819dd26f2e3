"""Outputs in the camera's geometry: the model's field of view, output sizes, and a moved calibration that projects
a 3-D point onto the pixel where the resized images actually show it (checked by rendering a dot and finding it)."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo

from fusionvae_core.data.framing import frame_image
from fusionvae_ros.output_geometry import moved_calibration, output_geometry, resize_output, sibling_camera_info_topic

WIDTH, HEIGHT = 640, 480
K = np.array([[500.0, 0.0, 300.5], [0.0, 520.0, 250.25], [0.0, 0.0, 1.0]])
BASELINE_TX = -35.0  # P[0, 3] = -fx * baseline (a right stereo camera)


def camera_info(**fields) -> CameraInfo:
    p = np.hstack([K, [[BASELINE_TX], [0.0], [0.0]]])
    info = CameraInfo(width=WIDTH, height=HEIGHT, distortion_model="plumb_bob", d=[0.1, -0.05, 0.0, 0.0, 0.0])
    info.k, info.p, info.r = K.ravel().tolist(), p.ravel().tolist(), np.eye(3).ravel().tolist()
    for name, value in fields.items():
        setattr(info, name, value)
    return info


def project(p: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Pixel (u, v) of a 3-D point in the camera frame through P (includes the stereo baseline term)."""
    u, v, w = p @ np.append(point, 1.0)
    return np.array([u / w, v / w])


def dot_image(centre: np.ndarray, size=(WIDTH, HEIGHT)) -> np.ndarray:
    """A grey image with a smooth blob centred at pixel ``centre`` (sub-pixel)."""
    cols, rows = np.meshgrid(np.arange(size[0]), np.arange(size[1]))
    blob = np.exp(-((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2) / (2 * 40.0**2))
    return np.rint(255 * blob).astype(np.uint8)[..., np.newaxis]


def centroid(image: np.ndarray) -> np.ndarray:
    weights = image[..., 0].astype(np.float64)
    rows, cols = np.indices(weights.shape)
    return np.array([(cols * weights).sum(), (rows * weights).sum()]) / weights.sum()


@pytest.mark.parametrize(
    ("resize_mode", "output_size", "crop", "size"),
    [
        ("resize", "model", (0, 0, 640, 480), (32, 32)),
        ("resize", "camera", (0, 0, 640, 480), (640, 480)),
        ("center_crop", "model", (80, 0, 480, 480), (32, 32)),
        ("center_crop", "camera", (80, 0, 480, 480), (480, 480)),
    ],
)
def test_geometry_follows_resize_mode_and_output_size(resize_mode, output_size, crop, size):
    geometry = output_geometry((WIDTH, HEIGHT), 32, resize_mode, output_size)
    assert (geometry.crop, geometry.size) == (crop, size)


@pytest.mark.parametrize("resize_mode", ["resize", "center_crop"])
@pytest.mark.parametrize("output_size", ["model", "camera"])
def test_moved_calibration_projects_points_where_the_outputs_show_them(resize_mode, output_size):
    model_size = 64
    point = np.array([0.05, -0.03, 1.0])  # metres, camera frame: a little right of and above the axis
    camera = dot_image((K @ point)[:2] / point[2])
    model_view = frame_image(camera, model_size, resize_mode)  # what the model sees (it fuses in this frame)
    geometry = output_geometry((WIDTH, HEIGHT), model_size, resize_mode, output_size)
    output = resize_output(model_view, geometry.size)
    assert geometry.size == output.shape[1::-1]
    out_k, out_p = moved_calibration(camera_info(), (WIDTH, HEIGHT), geometry)
    predicted = (out_k @ point)[:2] / point[2]
    assert np.abs(centroid(output) - predicted).max() < 0.02 * geometry.size[0] / model_size + 0.05
    # P keeps the stereo baseline in output pixels: its Tx scales with fx
    assert out_p[0, 3] / out_k[0, 0] == pytest.approx(BASELINE_TX / K[0, 0])
    baseline_shift = np.array([out_p[0, 3] / point[2], 0.0])
    np.testing.assert_allclose(project(out_p, point), predicted + baseline_shift, atol=1e-9)


def test_model_sized_k_is_scaled_per_axis_with_pixel_centres():
    geometry = output_geometry((WIDTH, HEIGHT), 32, "resize", "model")
    k, _ = moved_calibration(camera_info(), (WIDTH, HEIGHT), geometry)
    sx, sy = 32 / WIDTH, 32 / HEIGHT
    expected = [[500 * sx, 0, (300.5 + 0.5) * sx - 0.5], [0, 520 * sy, (250.25 + 0.5) * sy - 0.5], [0, 0, 1]]
    np.testing.assert_allclose(k, expected)


def test_calibration_of_the_full_sensor_with_binning_and_roi_is_moved_into_the_image():
    # K of the 1280x960 sensor, image = 2x2-binned ROI starting at (0, 0): the 640x480 camera K above
    full = camera_info(width=1280, height=960, binning_x=2, binning_y=2)
    full.k = (np.diag([2.0, 2.0, 1.0]) @ K).ravel().tolist()
    full.k[2], full.k[5] = 2 * K[0, 2], 2 * K[1, 2]
    geometry = output_geometry((WIDTH, HEIGHT), 32, "resize", "camera")
    k, _ = moved_calibration(full, (WIDTH, HEIGHT), geometry)
    np.testing.assert_allclose(k, K, atol=1e-9)


def test_uncertainty_resizes_as_float():
    std = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    resized = resize_output(std, (64, 48))
    assert resized.shape == (48, 64) and resized.dtype == np.float32


@pytest.mark.parametrize(
    ("image_topic", "info_topic"),
    [
        ("camera_0/image_raw", "camera_0/camera_info"),
        ("/robot/left/image_rect", "/robot/left/camera_info"),
        ("image_raw", "camera_info"),
    ],
)
def test_camera_info_topic_is_the_image_topic_sibling(image_topic, info_topic):
    assert sibling_camera_info_topic(image_topic) == info_topic
