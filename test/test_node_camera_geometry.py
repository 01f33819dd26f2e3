"""output_size camera end to end: 640x480 compressed colour cameras into the (grey) shipped model give 640x480
hypotheses, mean and uncertainty, and fused/camera_info carries the reference camera's calibration for them,
in its frame. The colour/grey mismatch is logged once and shown in /diagnostics."""

from __future__ import annotations

import time

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_helpers import count, stamp_ns
from sensor_msgs.msg import CameraInfo, CompressedImage

from fusionvae_ros.image_codec import encode_compressed

pytestmark = pytest.mark.ros

CAMERAS = ["cam0/image_raw", "cam1/image_raw"]
WIDTH, HEIGHT = 640, 480
K = [520.0, 0.0, 322.5, 0.0, 525.0, 241.0, 0.0, 0.0, 1.0]


NODE_PARAMETERS = {"camera_topics": CAMERAS, "input_transport": "compressed", "output_size": "camera"}


@pytest.fixture(scope="module")
def fusion(live_node):
    """The node, with a camera_info publisher for its reference camera and fused/camera_info collected."""
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    info_publisher = live_node.harness.node.create_publisher(CameraInfo, "cam0/camera_info", reliable)
    live_node.harness.collect("fused/camera_info", CameraInfo)
    live_node.harness.wait_until(
        lambda: info_publisher.get_subscription_count() > 0, 30, "the node's camera_info subscription"
    )
    return (*live_node, info_publisher)


def colour_view(frame: int) -> CompressedImage:
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    pixels = np.stack([(cols + 7 * frame) % 256, rows % 256, np.full_like(rows, 90)], axis=2).astype(np.uint8)
    fmt, payload = encode_compressed(pixels, "rgb8", "jpeg")
    return CompressedImage(format=fmt, data=payload)


def test_camera_sized_outputs_and_matching_camera_info(fusion):
    node, harness, model, info_publisher = fusion
    info = CameraInfo(width=WIDTH, height=HEIGHT, distortion_model="plumb_bob", d=[0.1, 0.0, 0.0, 0.0, 0.0])
    info.k, info.p = K, [*K[:3], 0.0, *K[3:6], 0.0, *K[6:], 0.0]
    info.header.frame_id = "cam0_optical"
    info_publisher.publish(info)
    harness.wait_until(
        lambda: harness.diagnostics_after(time.monotonic())["camera_info_received"] == "True", 30, "camera_info"
    )
    since = time.monotonic()
    for frame in range(3):
        stamp = time.time_ns()
        info.header.stamp.sec, info.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        info_publisher.publish(info)  # a driver publishes camera_info with every image
        for camera in range(2):
            msg = colour_view(frame)
            msg.header.stamp = info.header.stamp
            msg.header.frame_id = f"cam{camera}_optical"
            harness.publish(camera, msg)
        time.sleep(0.2)
    report = harness.settled_diagnostics(lossy_input=True)
    assert count(report, "sets_published") == 3
    for topic in ("fused/hypotheses", "fused/mean", "fused/uncertainty"):
        for item in harness.messages(topic, since):
            assert (item.msg.width, item.msg.height) == (WIDTH, HEIGHT), topic
            assert item.msg.header.frame_id == "cam0_optical", "outputs are in the reference camera's frame"
    assert {item.msg.encoding for item in harness.messages("fused/mean", since)} == {
        "mono8" if model.channels == 1 else "rgb8"
    }
    harness.wait_until(lambda: len(harness.messages("fused/camera_info", since)) >= 2, 10, "fused/camera_info")
    infos = harness.messages("fused/camera_info", since)
    mean_stamps = {stamp_ns(item.msg) for item in harness.messages("fused/mean", since)}
    for item in infos:
        out = item.msg
        assert stamp_ns(out) in mean_stamps, "camera_info shares the stamp of the outputs it describes"
        assert (out.width, out.height, out.header.frame_id) == (WIDTH, HEIGHT, "cam0_optical")
        # same field of view and resolution as the camera: the calibration carries over unchanged
        np.testing.assert_allclose(out.k, K)
        assert list(out.d) == [0.1, 0.0, 0.0, 0.0, 0.0]
    if model.channels == 1:
        assert "colour is dropped" in report["colour_mismatch"] and "camera 0" in report["colour_mismatch"]
        assert node.output().count("colour is dropped") == 2, "warned once per camera"
    assert report["camera_info_received"] == "True"
