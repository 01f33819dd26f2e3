"""Compressed camera input end to end: the node (own process, input_transport compressed, default Fast DDS
settings: no XML profile anywhere) fuses three 640x480 CompressedImage cameras. JPEG outputs match the raw path on
the same frames within JPEG's error, PNG outputs match it exactly, and a corrupt JPEG is dropped and counted
while fusing goes on."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ros_helpers import RosHarness, count, fuse_offline, stamp_ns
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

from fusionvae_ros.image_codec import decode_image, encode_compressed, encode_image

pytestmark = pytest.mark.ros

CAMERAS = ["cam0/image_raw", "cam1/image_raw", "cam2/image_raw"]
WIDTH, HEIGHT = 640, 480
NUM_HYPOTHESES = 2
SEED = 3
FRAME_PERIOD = 0.1  # 10 Hz cameras


# input_reliability stays best_effort (sensor data QoS), as on a robot. max_wait 1 s: on a starved machine the node
# may take one camera's views well before the others' (PNG decodes at full size), which must not split sets
NODE_PARAMETERS = {
    "camera_topics": CAMERAS,
    "input_transport": "compressed",
    "num_hypotheses": NUM_HYPOTHESES,
    "inference_queue_size": 3,
    "seed": SEED,
    "max_wait": 1.0,
    "sync_queue_size": 20,
}


def camera_pixels(frame: int, camera: int) -> np.ndarray:
    """A 640x480 rgb8 camera-like view: smooth shading with a bright digit-sized blob that moves per frame."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    shade = 40 + 30 * np.sin(cols / 90 + frame) * np.cos(rows / 70 + camera)
    blob = 200 * np.exp(-(((cols - 200 - 25 * frame) / 90) ** 2 + ((rows - 240 + 20 * camera) / 120) ** 2))
    grey = np.clip(shade + blob, 0, 255).astype(np.uint8)
    green = np.clip(grey.astype(int) + 20 * camera, 0, 255).astype(np.uint8)
    return np.stack([grey, green, grey // 3], axis=2)  # red != blue: a channel-order mistake would show


def compressed(pixels: np.ndarray, stamp: int, codec: str, camera: int) -> CompressedImage:
    fmt, payload = encode_compressed(pixels, "rgb8", codec)
    msg = CompressedImage(format=fmt, data=payload)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
    msg.header.frame_id = f"cam{camera}_optical"
    return msg


def publish(harness: RosHarness, codec: str, frames: int, corrupt: tuple[int, int] | None = None) -> dict[int, list]:
    """Publish ``frames`` 10 Hz frames from the three cameras; ``corrupt`` = (frame, camera) gets a truncated
    payload. Returns newest stamp -> the frame's rgb8 views (the raw path's input)."""
    sent, base = {}, time.time_ns()
    for frame in range(frames):
        stamps = [base + round(frame * FRAME_PERIOD * 1e9) + camera * 1_000_000 for camera in range(3)]
        views = [camera_pixels(frame, camera) for camera in range(3)]
        for camera, (stamp, view) in enumerate(zip(stamps, views)):
            msg = compressed(view, stamp, codec, camera)
            if (frame, camera) == corrupt:
                msg.data = msg.data[: len(msg.data) // 2]
            harness.publish(camera, msg)
        sent[max(stamps)] = views
        time.sleep(FRAME_PERIOD)
    return sent


def fused_sets(harness: RosHarness, since: float) -> dict[int, tuple[list[np.ndarray], np.ndarray]]:
    """Stamp -> (hypotheses, mean) of the sets published since ``since``."""
    sets: dict[int, tuple[list[np.ndarray], np.ndarray]] = {}
    for item in harness.messages("fused/hypotheses", since):
        sets.setdefault(stamp_ns(item.msg), ([], np.empty(0)))[0].append(decode_image(item.msg, 10**7))
    for item in harness.messages("fused/mean", since):
        sets[stamp_ns(item.msg)] = (sets[stamp_ns(item.msg)][0], decode_image(item.msg, 10**7))
    return sets


def raw_path(views: list[np.ndarray], stamp: int):
    """What the node fuses from these views sent as raw rgb8 Images, all stamped ``stamp`` (same noise)."""
    sec, nanosec = divmod(stamp, 1_000_000_000)
    header = Header()
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    images = [encode_image(view, header) for view in views]
    return fuse_offline(images, num_hypotheses=NUM_HYPOTHESES, seed=SEED)


def delta(after: dict[str, str], before: dict[str, str], key: str) -> int:
    return count(after, key) - count(before, key)


@pytest.mark.parametrize("codec", ["jpeg", "png"])
def test_compressed_cameras_fuse_every_set_like_the_raw_path(live_node, codec):
    node, harness, _ = live_node
    before = harness.settled_diagnostics(lossy_input=True)
    since = time.monotonic()
    sent = publish(harness, codec, 10)
    after = harness.settled_diagnostics(lossy_input=True)
    assert [delta(after, before, f"views_received_cam{camera}") for camera in range(3)] == [10, 10, 10]
    assert delta(after, before, "sets_k3") == 10 and delta(after, before, "drops_total") == 0
    sets = fused_sets(harness, since)
    assert sorted(sets) == sorted(sent), "every set fused and published"
    for stamp, (hypotheses, mean) in sets.items():
        expected = raw_path(sent[stamp], stamp)
        assert len(hypotheses) == NUM_HYPOTHESES
        if codec == "png":  # lossless: the very same model input
            np.testing.assert_array_equal(np.stack(hypotheses), expected.hypotheses)
            np.testing.assert_array_equal(mean, expected.mean)
        else:  # JPEG (decoded at reduced scale) shifts the model input slightly; the same noise keeps outputs close
            error = np.abs(np.stack(hypotheses).astype(int) - expected.hypotheses).mean()
            assert error < JPEG_OUTPUT_TOLERANCE, f"mean |JPEG - raw| = {error:.2f} grey levels"
    assert node.alive()


JPEG_OUTPUT_TOLERANCE = 0.5  # grey levels (of 255), mean over hypothesis pixels; measured 0.03-0.09


def test_corrupt_jpeg_is_dropped_and_counted_and_fusing_continues(live_node):
    node, harness, _ = live_node
    before = harness.settled_diagnostics(lossy_input=True)
    since = time.monotonic()
    sent = publish(harness, "jpeg", 6, corrupt=(2, 1))
    after = harness.settled_diagnostics(lossy_input=True)
    assert delta(after, before, "drops_corrupt") == 1
    # the bad frame's two good views wait max_wait (1 s) for the third; the next complete frame comes first and
    # supersedes them (the synchroniser never publishes out of stamp order)
    assert delta(after, before, "sets_k3") == 5 and delta(after, before, "drops_sync_superseded") == 2
    bad_frame_stamp = sorted(sent)[2]
    assert sorted(fused_sets(harness, since)) == [stamp for stamp in sorted(sent) if stamp != bad_frame_stamp]
    assert "dropped (corrupt)" in node.output()
    assert node.alive()
