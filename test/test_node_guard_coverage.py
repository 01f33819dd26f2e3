"""Every subscription and timer of both nodes runs behind the CallbackGuard, whatever the input transport: the
compressed camera and camera_info subscriptions and the managed node's (created on activate) included. Checked
in-process on the real nodes: a camera message with an invalid stamp is counted, never raised into the executor."""

from __future__ import annotations

import pytest
import rclpy
from ros_helpers import node_test_model, ros_arguments, unique_domain_id

from fusionvae_ros.camera_input import message_type

GUARDED = "CallbackGuard.wrap.<locals>.guarded"


def make_node(managed: bool):
    """The plain node (active at construction) or the managed one taken through configure and activate."""
    if not managed:
        from fusionvae_ros.fusion_node import FusionNode

        return FusionNode()
    from fusionvae_ros.lifecycle_node import LifecycleFusionNode

    node = LifecycleFusionNode()
    assert not list(node.subscriptions), "an unconfigured managed node takes no input"
    node.trigger_configure()
    node.trigger_activate()
    return node


@pytest.mark.parametrize(("managed", "transport"), [(False, "compressed"), (True, "raw"), (True, "compressed")])
def test_every_callback_and_timer_is_guarded(managed, transport):
    parameters = {
        "camera_topics": ["cam0/image", "cam1/image"],
        "model_path": str(node_test_model().path),
        "input_transport": transport,
    }
    rclpy.init(args=ros_arguments(parameters), domain_id=unique_domain_id())
    try:
        node = make_node(managed)
        try:
            subscriptions, timers = list(node.subscriptions), list(node.timers)
            assert len(subscriptions) == 3 and len(timers) == 2  # two cameras, camera_info; sync poll, diagnostics
            assert all(entry.callback.__qualname__ == GUARDED for entry in [*subscriptions, *timers])
            cameras = [sub for sub in subscriptions if sub.msg_type is message_type(transport)]
            assert [sub.topic for sub in cameras] == [
                f"cam{index}/image" + ("/compressed" if transport == "compressed" else "") for index in range(2)
            ]
            msg = message_type(transport)()
            msg.header.stamp.sec = -1  # stamp_nanoseconds raises RejectedInputError: only the guard stops it
            for camera in cameras:
                camera.callback(msg)
            assert node.stats.drops().get("stamp_invalid") == 2
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown()
