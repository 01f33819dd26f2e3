"""The shipped FusionTabletop model (models/fusion_tabletop): RGB 64x64, fuses held-out rendered scenes (test-split
objects, never seen in training) better than averaging the views, and runs in the live node on camera-size colour
images exactly as offline fusion does.

Skipped, with the reason printed, while models/fusion_tabletop is not shipped.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from ros_helpers import fuse_offline, running_node, stamp_ns
from std_msgs.msg import Header

from fusionvae_core.checkpoint import file_sha256
from fusionvae_core.data.tabletop.camera import CameraScenes
from fusionvae_core.inference import InferenceBackend, load_backend
from fusionvae_ros.image_codec import decode_image, encode_image

REPO = Path(__file__).resolve().parents[1]
SHIPPED_ONNX = REPO / "models" / "fusion_tabletop" / "model.onnx"
SHIPPED_CHECKPOINT = REPO / "models" / "fusion_tabletop" / "checkpoint.pt"
NUM_SCENES, NUM_HYPOTHESES = 24, 8
# Per K: (largest mean-image MSE / views-mean MSE, smallest share of scenes where the model wins) on the NUM_SCENES
# held-out scenes below. Measured with the shipped model at T = 0.6 / 0.8 / 1.0: K = 3 ratio 0.80-0.80, wins on
# 67-71 %; K = 1 ratio 0.59-0.61, wins on 83 % (the view mean of one view is that occluded view). Bounds leave room.
BOUNDS = {3: (0.9, 0.6), 1: (0.7, 0.75)}

pytestmark = pytest.mark.skipif(not SHIPPED_ONNX.is_file(), reason=f"no shipped model at {SHIPPED_ONNX} yet")


@pytest.fixture(scope="module")
def shipped() -> InferenceBackend:
    """The shipped ONNX model in ONNX Runtime."""
    return load_backend(SHIPPED_ONNX, backend="onnxruntime")


def as_uint8_hwc(chw: np.ndarray) -> np.ndarray:
    """A [..., C, H, W] float image in [0, 1] as uint8 [..., H, W, C]."""
    return np.rint(np.moveaxis(chw, -3, -1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def held_out_scenes() -> tuple[np.ndarray, np.ndarray]:
    """Test-split scenes rendered square at the model size: uint8 views [N, 3, 64, 64, 3], targets [N, 64, 64, 3]."""
    scenes = CameraScenes("test", NUM_SCENES, 64, 64)
    items = [scenes[index] for index in range(NUM_SCENES)]
    views = np.stack([as_uint8_hwc(item.views.numpy()) for item in items])
    targets = np.stack([as_uint8_hwc(item.target.numpy()) for item in items])
    return views, targets


def test_shipped_model_describes_itself(shipped: InferenceBackend) -> None:
    meta = shipped.metadata
    assert (meta.preset, shipped.image_size, shipped.channels, meta.likelihood) == (
        "fusion_tabletop",
        64,
        3,
        "logistic_mixture",
    )
    assert meta.source_checkpoint_sha256 == file_sha256(SHIPPED_CHECKPOINT)
    assert 0 < shipped.temperature <= 1, "ship_model.py records the validation-best of 0.6, 0.8, 1.0"


@pytest.mark.slow
@pytest.mark.parametrize("num_views", [3, 1])
def test_fused_mean_is_closer_to_the_scene_than_the_mean_of_the_views(
    shipped: InferenceBackend, held_out_scenes: tuple[np.ndarray, np.ndarray], num_views: int
) -> None:
    views, targets = held_out_scenes
    views, targets = views[:, :num_views], targets.astype(np.float32) / 255
    fused = shipped.infer(views, num_samples=NUM_HYPOTHESES, seed=0).mean.astype(np.float32) / 255
    model_mse = ((fused - targets) ** 2).mean(axis=(1, 2, 3))
    views_mse = ((views.astype(np.float32).mean(axis=1) / 255 - targets) ** 2).mean(axis=(1, 2, 3))
    max_ratio, min_wins = BOUNDS[num_views]
    ratio, wins = model_mse.mean() / views_mse.mean(), np.mean(model_mse < views_mse)
    assert ratio < max_ratio, f"fused mean MSE {model_mse.mean():.4f} vs views {views_mse.mean():.4f}"
    assert wins >= min_wins, f"better than the view mean on only {wins:.0%} of the scenes"


@pytest.mark.ros
def test_the_node_fuses_camera_size_colour_views_like_offline_fusion(shipped: InferenceBackend, tmp_path: Path) -> None:
    width, height, seed = 96, 72, 3
    scene = CameraScenes("test", 1, width, height)[0]
    views = as_uint8_hwc(scene.views.numpy())
    cameras = ["cam0/image", "cam1/image", "cam2/image"]
    parameters = {
        "camera_topics": cameras,
        "model_path": str(SHIPPED_ONNX),
        "resize_mode": "center_crop",
        "num_hypotheses": 2,
        "max_wait": 0.5,
        "input_reliability": "reliable",
        "diagnostics_period": 0.2,
        "seed": seed,
    }
    with running_node(parameters, tmp_path, cameras) as (node, harness):
        since = time.monotonic()
        stamp = time.time_ns()
        header = Header(frame_id="table_camera")
        header.stamp.sec, header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        images = [encode_image(view, header) for view in views]
        for camera, image in enumerate(images):
            harness.publish(camera, image)
        harness.settled_diagnostics()
        (mean,) = [item.msg for item in harness.messages("fused/mean", since)]
        assert (mean.encoding, mean.width, mean.height, stamp_ns(mean)) == ("rgb8", 64, 64, stamp)
        expected = fuse_offline(images, shipped, resize_mode="center_crop", num_hypotheses=2, seed=seed)
        np.testing.assert_array_equal(decode_image(mean, 10**7), expected.mean)
        assert node.alive()
