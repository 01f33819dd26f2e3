"""/diagnostics of a running, renamed node: the status is named after the node's fully qualified name (two
instances never collide in an aggregator) and its level says ERROR without input, WARN with a silent camera, OK
when every camera sends. Real node process."""

from __future__ import annotations

import time

import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from ros_helpers import FUSION_NODE_COMMAND, camera_image, node_test_model, running_node

pytestmark = pytest.mark.ros

NODE_NAME = "fusion_left"  # the harness listens to /fused/*, so the test renames the node instead of namespacing it
CAMERAS = ["cam0/image", "cam1/image"]


def wait_for_status(harness, level: bytes, message_part: str, timeout: float = 120.0, feed=None) -> DiagnosticStatus:
    """The first /diagnostics status with ``level`` whose message contains ``message_part``; ``feed()`` is called
    between polls (to keep cameras publishing)."""
    deadline = time.monotonic() + timeout
    since = time.monotonic()
    while time.monotonic() < deadline:
        if feed is not None:
            feed()
        for received in harness.messages("/diagnostics", since):
            (status,) = received.msg.status
            if status.level == level and message_part in status.message:
                return status
        time.sleep(0.05)
    last = [received.msg.status[0] for received in harness.messages("/diagnostics", since)][-3:]
    pytest.fail(f"no {level!r} status with '{message_part}' within {timeout} s; last: {last}")


def test_status_is_named_by_the_fully_qualified_name_and_its_level_follows_the_cameras(tmp_path):
    parameters = {
        "camera_topics": CAMERAS,
        "model_path": str(node_test_model().path),
        "diagnostics_period": 0.2,
        "diagnostics_silent_timeout": 3.0,  # generous: a loaded machine must not make a fed camera look silent
        "diagnostics_max_drop_fraction": 1.0,  # levels from silence only here (drop shares: test_node_diagnostics)
        "max_wait": 0.1,
    }
    command = (*FUSION_NODE_COMMAND, "--ros-args", "-r", f"__node:={NODE_NAME}")
    with running_node(parameters, tmp_path, CAMERAS, command) as (node, harness):
        status = wait_for_status(harness, DiagnosticStatus.ERROR, "no camera input")
        assert status.name == f"/{NODE_NAME}: fusion"

        def send(cameras: tuple[int, ...]):
            last = [0.0]

            def publish() -> None:  # a frame every 0.2 s at most, well within what the node sustains
                if time.monotonic() - last[0] < 0.2:
                    return
                last[0] = time.monotonic()
                stamp = time.time_ns()
                for camera in cameras:
                    harness.publish(camera, camera_image(stamp, f"cam{camera}"))

            return publish

        wait_for_status(harness, DiagnosticStatus.WARN, "silent camera(s): 1", feed=send((0,)))
        wait_for_status(harness, DiagnosticStatus.OK, "fusing at", feed=send((0, 1)))
        assert node.alive()
