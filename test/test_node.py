"""The fusion node end to end: real rclpy, the node in its own process, this process publishing 30 Hz cameras.

Checks complete sets from three cameras (hypotheses, mean, uncertainty; noise reproducible from the seed
parameter and the set stamp), partial sets when one or two cameras are silent (only after max_wait), and recovery
after stamps jump backwards (bag loop). Set composition is read from /diagnostics.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import pytest
from ros_helpers import RosHarness, camera_image, count, fuse_offline, stamp_ns

from fusionvae_ros.image_codec import decode_image

pytestmark = pytest.mark.ros

CAMERAS = ["cam0/image", "cam1/image", "cam2/image"]
NUM_HYPOTHESES = 3
SEED = 5
MAX_WAIT = 0.3  # long enough that a loaded machine never splits a complete frame into partial sets
FRAME_PERIOD = 1 / 30
CAMERA_OFFSET_NS = 1_000_000  # camera c is stamped c ms after camera 0 (well within the slop)


NODE_PARAMETERS = {
    "camera_topics": CAMERAS,
    "slop": 0.01,
    "max_wait": MAX_WAIT,
    "num_hypotheses": NUM_HYPOTHESES,
    "input_reliability": "reliable",
    "sync_queue_size": 30,  # a silent camera keeps max_wait / frame period views of the others waiting
    "inference_queue_size": 3,
    "seed": SEED,
}


@dataclass(frozen=True)
class Frame:
    """One published frame: when its first view was about to be published (monotonic), the newest stamp of its
    views, the seed of its images and every view's stamp."""

    publishing_from: float
    newest_stamp: int
    image_seed: int
    stamps: tuple[int, ...]


def publish_frames(harness: RosHarness, cameras: tuple[int, ...], frames: int, base_ns: int) -> list[Frame]:
    """Publish ``frames`` frames at 30 Hz on ``cameras`` (camera c stamped c ms late), images seeded by frame."""
    sent = []
    start = time.monotonic()
    for frame in range(frames):
        stamps = tuple(base_ns + round(frame * FRAME_PERIOD * 1e9) + camera * CAMERA_OFFSET_NS for camera in cameras)
        images = [camera_image(stamp, f"cam{camera}_optical", seed=frame) for camera, stamp in zip(cameras, stamps)]
        publishing_from = time.monotonic()
        for camera, image in zip(cameras, images):
            harness.publish(camera, image)
        sent.append(Frame(publishing_from, max(stamps), frame, stamps))
        time.sleep(max(0.0, start + (frame + 1) * FRAME_PERIOD - time.monotonic()))  # pacing only
    return sent


def hypothesis_runs(harness: RosHarness, since: float) -> list[tuple[int, list]]:
    """Hypotheses received since ``since`` grouped into runs of consecutive messages with the same stamp."""
    received = harness.messages("fused/hypotheses", since)
    return [(stamp, list(run)) for stamp, run in itertools.groupby(received, key=lambda item: stamp_ns(item.msg))]


def delta(after: dict[str, str], before: dict[str, str], key: str) -> int:
    return count(after, key) - count(before, key)


def fuse_and_account(harness: RosHarness, cameras: tuple[int, ...], frames: int):
    """Publish frames and wait until the node handled them; (frames, hypothesis runs, diagnostics before/after)."""
    before = harness.settled_diagnostics()
    since = time.monotonic()
    sent = publish_frames(harness, cameras, frames, time.time_ns())
    after = harness.settled_diagnostics()
    return sent, hypothesis_runs(harness, since), before, after, since


def test_three_cameras_give_hypotheses_mean_and_uncertainty_per_set(live_node):
    node, harness, model = live_node
    sent, runs, before, after, since = fuse_and_account(harness, (0, 1, 2), 15)
    assert delta(after, before, "sets_k3") == len(sent), "every frame should make one complete set"
    published = delta(after, before, "sets_published")
    assert published + delta(after, before, "drops_inference_busy") == len(sent)
    assert published >= 1 and after["last_set_cameras"] == "0,1,2"

    assert len(runs) == published
    newest_stamps = {frame.newest_stamp for frame in sent}
    encoding = "mono8" if model.channels == 1 else "rgb8"
    for stamp, run in runs:
        assert stamp in newest_stamps, "hypotheses are stamped with the newest view of their set"
        assert len(run) == NUM_HYPOTHESES, "all hypotheses of a set are published back to back"
        for item in run:
            msg = item.msg
            assert msg.header.frame_id == "cam2_optical", "default frame_id: the newest view's frame"
            assert (msg.width, msg.height, msg.encoding) == (model.image_size, model.image_size, encoding)
            assert msg.step == model.image_size * model.channels and len(msg.data) == msg.step * msg.height

    run_stamps = [stamp for stamp, _ in runs]
    assert run_stamps == sorted(set(run_stamps)), "sets are published in stamp order, each once"
    means = harness.messages("fused/mean", since)
    uncertainties = harness.messages("fused/uncertainty", since)
    assert [stamp_ns(item.msg) for item in means] == run_stamps
    assert [stamp_ns(item.msg) for item in uncertainties] == run_stamps
    for item in means:
        msg = item.msg
        assert (msg.encoding, msg.width, msg.height, msg.header.frame_id) == (
            encoding,
            model.image_size,
            model.image_size,
            "cam2_optical",
        )
    for item in uncertainties:
        msg = item.msg
        assert (msg.encoding, msg.width, msg.height, msg.step) == (
            "32FC1",
            model.image_size,
            model.image_size,
            4 * model.image_size,
        )
        assert msg.header.frame_id == "cam2_optical"
        std = np.frombuffer(msg.data, np.float32)
        assert np.isfinite(std).all() and (std >= 0).all()
    assert node.alive()


def test_live_hypotheses_equal_offline_fusion_with_the_set_noise_seed(live_node):
    """The node seeds each set with set_noise_seed(seed parameter, set stamp), as offline bag processing does:
    the same pipeline fusing the same views here with that seed reproduces the published hypotheses, mean and
    uncertainty."""
    harness = live_node.harness
    sent, runs, *_, since = fuse_and_account(harness, (0, 1, 2), 3)
    frames = {frame.newest_stamp: frame for frame in sent}
    stamp, run = runs[-1]
    frame = frames[stamp]
    views = [camera_image(view_stamp, "", seed=frame.image_seed) for view_stamp in frame.stamps]
    expected = fuse_offline(views, num_hypotheses=NUM_HYPOTHESES, seed=SEED)
    assert expected.stamp_ns == stamp
    for item, hypothesis in zip(run, expected.hypotheses, strict=True):
        np.testing.assert_array_equal(decode_image(item.msg, 10**7), hypothesis)
    (mean,) = [item.msg for item in harness.messages("fused/mean", since) if stamp_ns(item.msg) == stamp]
    np.testing.assert_array_equal(decode_image(mean, 10**7), expected.mean)
    (std,) = [item.msg for item in harness.messages("fused/uncertainty", since) if stamp_ns(item.msg) == stamp]
    uncertainty = np.frombuffer(std.data, np.float32).reshape(expected.uncertainty.shape)
    np.testing.assert_array_equal(uncertainty, expected.uncertainty)
    other = fuse_offline(views, num_hypotheses=NUM_HYPOTHESES, seed=SEED + 1)
    assert not np.array_equal(other.hypotheses, expected.hypotheses), "another seed must give other hypotheses"


@pytest.mark.parametrize("cameras", [(0, 1), (0,)], ids=["one_silent", "two_silent"])
def test_silent_cameras_give_partial_sets_after_max_wait(live_node, cameras):
    node, harness, _ = live_node
    sent, runs, before, after, _ = fuse_and_account(harness, cameras, 6)
    k = len(cameras)
    assert delta(after, before, f"sets_k{k}") == len(sent), f"every frame should make one K={k} set"
    assert delta(after, before, "sets_k3") == 0
    assert after["last_set_cameras"] == ",".join(map(str, cameras))
    published = delta(after, before, "sets_published")
    assert published + delta(after, before, "drops_inference_busy") == len(sent)
    assert len(runs) == published >= 1
    frames = {frame.newest_stamp: frame for frame in sent}
    for stamp, run in runs:
        assert len(run) == NUM_HYPOTHESES
        assert stamp in frames, "stamp = newest view of the partial set"
        # no view of the frame can have reached the node before publishing_from
        assert run[0].at - frames[stamp].publishing_from >= MAX_WAIT, "a partial set must wait max_wait"
    assert node.alive()


def test_stamps_jumping_backwards_reset_the_synchroniser_and_fusing_continues(live_node):
    node, harness, _ = live_node
    base = time.time_ns()
    before = harness.settled_diagnostics()
    since = time.monotonic()
    first = publish_frames(harness, (0, 1, 2), 5, base)
    looped = publish_frames(harness, (0, 1, 2), 5, base - 3_000_000_000)  # the bag looped 3 s back
    after = harness.settled_diagnostics()
    assert delta(after, before, "sync_resets") == 1
    assert delta(after, before, "sets_k3") == 10
    fused = [stamp for stamp, _ in hypothesis_runs(harness, since)]
    looped_stamps = {frame.newest_stamp for frame in looped}
    assert looped_stamps & set(fused), "sets after the jump must be fused"
    assert set(fused) <= {frame.newest_stamp for frame in first} | looped_stamps
    assert node.alive()
