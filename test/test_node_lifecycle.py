"""The managed node (fusion_lifecycle_node) in its own process, driven through its real lifecycle services:
unconfigured at start (no subscriptions), configure loads the model, activate subscribes and fuses, deactivate
stops every output, activate resumes, cleanup returns to unconfigured; a failing configure leaves it unconfigured."""

from __future__ import annotations

import time

import pytest
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from ros_helpers import (
    LIFECYCLE_NODE_COMMAND,
    NodeProcess,
    RosHarness,
    camera_image,
    live_parameters,
    unique_domain_id,
)

pytestmark = pytest.mark.ros

CAMERAS = ["cam0/image", "cam1/image"]


@pytest.fixture
def managed(tmp_path):
    """The managed node on the shipped model, unconfigured, and a harness on its domain."""
    domain_id = unique_domain_id()
    parameters = live_parameters(camera_topics=CAMERAS, input_reliability="reliable", max_wait=1.0)
    node = NodeProcess(parameters, domain_id, tmp_path, LIFECYCLE_NODE_COMMAND)
    harness = RosHarness(domain_id, CAMERAS)
    try:
        yield node, harness
    finally:
        harness.close()
        node.stop()


def call(harness: RosHarness, service_type, name: str, request, timeout: float = 60.0):
    """Call a service of the node from the harness (its executor completes the future)."""
    client = harness.node.create_client(service_type, name)
    assert client.wait_for_service(timeout_sec=timeout), f"{name} not available"
    future = client.call_async(request)
    harness.wait_until(future.done, timeout, f"the reply of {name}")
    harness.node.destroy_client(client)
    return future.result()


def state(harness: RosHarness) -> int:
    return call(harness, GetState, "fusion_node/get_state", GetState.Request()).current_state.id


def transition(harness: RosHarness, transition_id: int) -> bool:
    request = ChangeState.Request(transition=Transition(id=transition_id))
    return call(harness, ChangeState, "fusion_node/change_state", request).success


def publish_frames(harness: RosHarness, frames: int) -> None:
    base = time.time_ns()
    for frame in range(frames):
        for camera in range(2):
            harness.publish(camera, camera_image(base + frame * 50_000_000, f"cam{camera}", seed=frame))
        time.sleep(0.05)


def outputs_since(harness: RosHarness, since: float) -> int:
    return sum(len(harness.messages(topic, since)) for topic in (*harness.OUTPUTS, "/diagnostics"))


def test_transitions_and_no_outputs_while_inactive(managed):
    node, harness = managed
    assert state(harness) == State.PRIMARY_STATE_UNCONFIGURED
    assert all(camera.get_subscription_count() == 0 for camera in harness.cameras), "unconfigured: no input"

    assert transition(harness, Transition.TRANSITION_CONFIGURE)
    assert state(harness) == State.PRIMARY_STATE_INACTIVE
    since = time.monotonic()
    publish_frames(harness, 3)
    time.sleep(1.0)
    assert all(camera.get_subscription_count() == 0 for camera in harness.cameras), "inactive: no subscriptions"
    assert outputs_since(harness, since) == 0, "inactive: nothing published"

    assert transition(harness, Transition.TRANSITION_ACTIVATE)
    assert state(harness) == State.PRIMARY_STATE_ACTIVE
    harness.wait_until(lambda: all(c.get_subscription_count() for c in harness.cameras), 30, "camera subscriptions")
    since = time.monotonic()
    publish_frames(harness, 3)
    harness.wait_until(lambda: len(harness.messages("fused/mean", since)) >= 1, 60, "fused sets")

    assert transition(harness, Transition.TRANSITION_DEACTIVATE)
    assert state(harness) == State.PRIMARY_STATE_INACTIVE
    harness.wait_until(lambda: not any(c.get_subscription_count() for c in harness.cameras), 30, "unsubscribing")
    since = time.monotonic()
    publish_frames(harness, 3)
    time.sleep(1.0)
    assert outputs_since(harness, since) == 0, "deactivated: no outputs (and no diagnostics)"

    assert transition(harness, Transition.TRANSITION_ACTIVATE)
    harness.wait_until(lambda: all(c.get_subscription_count() for c in harness.cameras), 30, "re-subscribing")
    since = time.monotonic()
    publish_frames(harness, 2)
    harness.wait_until(lambda: len(harness.messages("fused/mean", since)) >= 1, 60, "fusing again")

    assert transition(harness, Transition.TRANSITION_DEACTIVATE)
    assert transition(harness, Transition.TRANSITION_CLEANUP)
    assert state(harness) == State.PRIMARY_STATE_UNCONFIGURED
    assert node.alive()


def test_failing_configure_leaves_the_node_unconfigured(tmp_path):
    missing = tmp_path / "missing.onnx"
    domain_id = unique_domain_id()
    node = NodeProcess(
        {"camera_topics": CAMERAS, "model_path": str(missing)}, domain_id, tmp_path, LIFECYCLE_NODE_COMMAND
    )
    harness = RosHarness(domain_id, CAMERAS)
    try:
        assert not transition(harness, Transition.TRANSITION_CONFIGURE)
        assert state(harness) == State.PRIMARY_STATE_UNCONFIGURED
        assert node.alive()
        output = node.output()
        assert "configure failed" in output and str(missing) in output and "Traceback" not in output
    finally:
        harness.close()
        node.stop()
