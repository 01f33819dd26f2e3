"""Malformed camera input: the bad view (or set) is dropped and counted by reason in /diagnostics, the node
stays alive and fuses the next good set completely. Real node process, real DDS."""

from __future__ import annotations

import time

import pytest
from ros_helpers import MALFORMED, camera_image, count, stamp_ns, unknown_encoding

pytestmark = pytest.mark.ros

CAMERAS = ["cam0/image", "cam1/image", "cam2/image"]
MAX_IMAGE_PIXELS = 10_000  # the 48x40 test images are fine, ros_helpers.HUGE_SIZE (120x100) is too large


NODE_PARAMETERS = {
    "camera_topics": CAMERAS,
    "input_reliability": "reliable",
    "input_queue_size": 50,  # the burst test sends 18 messages per camera at once
    "max_image_pixels": MAX_IMAGE_PIXELS,
    "future_tolerance": 0.5,
    "max_age": 5.0,
}


def publish_set(harness, stamp: int, spoil=None, odd_size_camera: int | None = None) -> int:
    """Publish one frame on all cameras (camera 2 spoiled by ``spoil``); returns the newest good stamp."""
    for camera in range(3):
        size = (64, 40) if camera == odd_size_camera else (48, 40)
        msg = camera_image(stamp + camera * 1_000_000, f"cam{camera}", size=size)
        if camera == 2 and spoil is not None:
            spoil(msg)
        harness.publish(camera, msg)
    return stamp + (1_000_000 if spoil else 2_000_000)


def delta(after: dict[str, str], before: dict[str, str], key: str) -> int:
    return count(after, key) - count(before, key)


def assert_good_set_fuses(harness) -> None:
    """A well-formed frame on all three cameras becomes one complete set and is published."""
    before = harness.settled_diagnostics()
    since = time.monotonic()
    stamp = publish_set(harness, time.time_ns())
    after = harness.settled_diagnostics()
    assert delta(after, before, "sets_k3") == 1 and delta(after, before, "sets_published") == 1
    assert {stamp_ns(item.msg) for item in harness.messages("fused/hypotheses", since)} == {stamp}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_bad_view_is_dropped_counted_and_the_rest_of_the_set_fused(live_node, kind):
    node, harness, _ = live_node
    reason, spoil = MALFORMED[kind]
    before = harness.settled_diagnostics()
    since = time.monotonic()
    expected_stamp = publish_set(harness, time.time_ns(), spoil=spoil)
    after = harness.settled_diagnostics()
    assert delta(after, before, f"drops_{reason}") == 1
    assert delta(after, before, "drops_total") == 1
    assert delta(after, before, "sets_k2") == 1, "cameras 0 and 1 still make a partial set"
    fused = {stamp_ns(item.msg) for item in harness.messages("fused/hypotheses", since)}
    assert fused == {expected_stamp}
    assert_good_set_fuses(harness)
    assert node.alive()


def test_views_of_different_sizes_drop_the_set_and_good_sets_still_fuse(live_node):
    node, harness, _ = live_node
    before = harness.settled_diagnostics()
    since = time.monotonic()
    publish_set(harness, time.time_ns(), odd_size_camera=1)
    after = harness.settled_diagnostics()
    assert delta(after, before, "drops_mismatched_sizes") == 1
    assert delta(after, before, "sets_published") == 0
    assert harness.messages("fused/hypotheses", since) == []
    assert_good_set_fuses(harness)
    assert node.alive()


def test_bad_input_warnings_are_throttled_per_reason(live_node):
    node, harness, _ = live_node
    before = harness.settled_diagnostics()
    log_before = len(node.output())
    for _ in range(5):
        publish_set(harness, time.time_ns(), spoil=unknown_encoding)
        time.sleep(0.04)  # pacing only: distinct stamps
    after = harness.settled_diagnostics()
    assert delta(after, before, "drops_encoding") == 5
    warnings = [line for line in node.output()[log_before:].splitlines() if "dropped (encoding)" in line]
    assert len(warnings) <= 1, "at most one warning per reason per warn period, the rest only counted"


def test_a_burst_of_every_kind_of_malformed_message_on_every_camera_leaves_the_node_fusing(live_node):
    node, harness, _ = live_node
    before = harness.settled_diagnostics()
    for _ in range(2):
        for _, spoil in MALFORMED.values():
            for camera in range(3):
                msg = camera_image(time.time_ns(), f"cam{camera}")
                spoil(msg)
                harness.publish(camera, msg)
    after = harness.settled_diagnostics()
    for reason in {reason for reason, _ in MALFORMED.values()}:
        expected = 6 * sum(counted == reason for counted, _ in MALFORMED.values())
        assert delta(after, before, f"drops_{reason}") == expected, reason
    assert delta(after, before, "sets_published") == 0
    assert not [key for key in after if key.startswith("drops_") and key.endswith("_error")], after
    for _ in range(3):
        assert_good_set_fuses(harness)
    assert node.alive()
