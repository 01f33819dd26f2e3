"""The node under use_sim_time (bag replay with --clock): max_wait and the stamp checks follow /clock, not the
wall clock. This process publishes /clock and one camera of two; the partial set must wait for simulated time."""

from __future__ import annotations

import time

import pytest
from ros_helpers import camera_image, count, stamp_ns
from rosgraph_msgs.msg import Clock

pytestmark = pytest.mark.ros

CAMERAS = ["cam0/image", "cam1/image"]
SIM_START_NS = 100 * 1_000_000_000  # far behind the wall clock: only valid under sim time
MAX_WAIT = 0.2


NODE_PARAMETERS = {
    "camera_topics": CAMERAS,
    "use_sim_time": True,
    "max_wait": MAX_WAIT,
    "input_reliability": "reliable",
}


@pytest.fixture(scope="module")
def fusion(live_node):
    """The node under sim time, and a /clock publisher it listens to."""
    node, harness, _ = live_node
    clock = harness.node.create_publisher(Clock, "/clock", 10)
    harness.wait_until(lambda: clock.get_subscription_count() > 0, 30, "the node to subscribe to /clock")
    return node, harness, clock


def publish_clock(clock, time_ns: int) -> None:
    msg = Clock()
    msg.clock.sec, msg.clock.nanosec = divmod(time_ns, 1_000_000_000)
    clock.publish(msg)


def holds_the_view(harness) -> bool:
    """Per the node's next /diagnostics report: it received the one view and still buffers it."""
    report = harness.diagnostics_after(time.monotonic())
    return count(report, "views_received_cam0") == 1 and count(report, "sync_buffered_views") == 1


def test_partial_set_waits_for_simulated_time(fusion):
    node, harness, clock = fusion
    publish_clock(clock, SIM_START_NS)
    since = time.monotonic()
    harness.publish(0, camera_image(SIM_START_NS, "cam0"))  # camera 1 stays silent
    # /diagnostics runs on the wall clock: wait until the node holds the view, then for 3 x max_wait of wall time
    harness.wait_until(lambda: holds_the_view(harness), 30, "the node to buffer the view")
    held_since = time.monotonic()
    while time.monotonic() - held_since < 3 * MAX_WAIT:
        assert holds_the_view(harness), "the view left the buffer although /clock did not move"
    assert harness.messages("fused/hypotheses", since) == [], "simulated time has not advanced by max_wait yet"
    publish_clock(clock, SIM_START_NS + int(1.5 * MAX_WAIT * 1e9))
    harness.wait_until(lambda: bool(harness.messages("fused/hypotheses", since)), 30, "the partial set")
    assert {stamp_ns(item.msg) for item in harness.messages("fused/hypotheses", since)} == {SIM_START_NS}
    assert node.alive()
