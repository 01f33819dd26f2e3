"""Compositing live, output_size camera: 640x480 cameras into a model with a learnt visibility head. What camera 0
shows is published at the camera's own resolution (its fine texture, which the 16x16 model cannot carry), what every
camera hides comes from the model (lossless PNG cameras), and the uncertainty vanishes where a camera sees the scene."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_helpers import count, start_live_node
from sensor_msgs.msg import CompressedImage
from visibility_helpers import trained_visibility_model

from fusionvae_core.data.framing import frame_image
from fusionvae_core.inference import load_backend
from fusionvae_ros.image_codec import decode_image, encode_compressed
from fusionvae_ros.noise_seed import set_noise_seed
from fusionvae_ros.output_geometry import resize_output

pytestmark = [pytest.mark.ros, pytest.mark.slow]

CAMERAS = ["cam0/image_raw", "cam1/image_raw", "cam2/image_raw"]
WIDTH, HEIGHT = 640, 480
SEEN_BY_CAMERA_0 = np.s_[20:460, 20:260]  # camera 0 shows x < 320: 1.5 model pixels (60 px) inside its edge
HIDDEN = np.s_[340:, 420:]  # no camera shows x >= 320 and y >= 240


@pytest.fixture(scope="module")
def fusion(request, tmp_path_factory):
    model = trained_visibility_model()
    parameters = {
        "camera_topics": CAMERAS,
        "input_transport": "compressed",  # lossless PNG: 640x480 raw images over loopback DDS may lose fragments
        "model_path": str(model.onnx),
        "output_size": "camera",
        "seed": 3,
    }
    return start_live_node(request, parameters, tmp_path_factory.mktemp("node_logs")), model


def camera_images() -> list[np.ndarray]:
    """mono8 640x480 views of one scene: a fine texture never black, seen through camera 0's left half and camera 1's
    top-right quadrant; camera 2 sees nothing (a covered lens)."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    scene = (120 + 60 * ((rows // 2 + cols // 2) % 2) + (cols % 60)).astype(np.uint8)[..., None]
    views = [np.zeros_like(scene) for _ in CAMERAS]
    views[0][:, :320] = scene[:, :320]
    views[1][:240, 320:] = scene[:240, 320:]
    return views


def test_seen_pixels_keep_the_camera_detail_and_hidden_ones_come_from_the_model(fusion):
    (_, harness, _), model = fusion
    images = camera_images()
    since = time.monotonic()
    stamp = time.time_ns()
    for camera, pixels in enumerate(images):
        fmt, payload = encode_compressed(pixels, "mono8", "png")
        msg = CompressedImage(format=fmt, data=payload)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        harness.publish(camera, msg)
    harness.wait_until(lambda: harness.messages("fused/uncertainty", since), 60, "a fused set")
    report = harness.settled_diagnostics()
    assert count(report, "sets_published") == 1 and report["compositing"] == "True"
    (mean,) = [decode_image(item.msg, WIDTH * HEIGHT) for item in harness.messages("fused/mean", since)]
    (std,) = [
        np.frombuffer(item.msg.data, dtype=np.float32).reshape(HEIGHT, WIDTH)
        for item in harness.messages("fused/uncertainty", since)
    ]
    assert mean.shape == (HEIGHT, WIDTH, 1)
    seen = mean[SEEN_BY_CAMERA_0].astype(float)
    source = images[0][SEEN_BY_CAMERA_0].astype(float)
    assert np.abs(seen - source).mean() < 6 and np.corrcoef(seen.ravel(), source.ravel())[0, 1] > 0.97
    # what the model alone makes of these views, upsampled: the hidden region must be that, not the black views
    inputs = np.stack([frame_image(view, model.model.config.image_size, "resize") for view in images])[None]
    generated = load_backend(model.onnx).infer(inputs, num_samples=2, seed=set_noise_seed(3, stamp)).mean[0]
    upsampled = resize_output(generated, (WIDTH, HEIGHT)).astype(float)
    hidden = mean[HIDDEN].astype(float)
    assert hidden.mean() > 40, "a hidden region is filled in, not copied from the black views"
    assert np.abs(hidden - upsampled[HIDDEN]).mean() < 15
    assert float(std[SEEN_BY_CAMERA_0].max()) < 0.01, "no uncertainty where a camera sees the scene"
