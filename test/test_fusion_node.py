"""The one node class (fusion_node.FusionNode) in this process, not spun: its lifecycle transitions, run-time
parameter changes set or refused, and every subscription and timer behind the CallbackGuard, for the plain node
(configured and active at start) and the managed one, whatever the input transport."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import rclpy
from lifecycle_msgs.msg import State
from rclpy.parameter import Parameter
from ros_helpers import node_test_model, ros_arguments, unique_domain_id

from fusionvae_ros import fusion_node
from fusionvae_ros.fusion_node import CAMERA_MESSAGE_TYPES, FusionNode
from fusionvae_ros.pipeline import StartupError

GUARDED = "CallbackGuard.wrap.<locals>.guarded"
CAMERAS = ["cam0/image", "cam1/image"]


@pytest.fixture
def make_node() -> Iterator:
    """A factory of nodes on the test model in a fresh rclpy context (``**parameters`` over the defaults)."""
    made: list[FusionNode] = []

    def make(managed: bool, **parameters: object) -> FusionNode:
        values = {"camera_topics": CAMERAS, "model_path": str(node_test_model().path), **parameters}
        rclpy.init(args=ros_arguments(values), domain_id=unique_domain_id())
        node = FusionNode(managed)
        made.append(node)
        if not managed:
            node.start()
        return node

    yield make
    for node in made:
        node.destroy_node()
    rclpy.try_shutdown()


def state(node: FusionNode) -> int:
    """The node's primary lifecycle state id."""
    return node._state_machine.current_state[0]


def test_managed_node_walks_the_lifecycle_and_takes_input_only_while_active(make_node):
    node = make_node(managed=True)
    assert state(node) == State.PRIMARY_STATE_UNCONFIGURED and not list(node.subscriptions)
    node.trigger_configure()
    assert state(node) == State.PRIMARY_STATE_INACTIVE and node.configured and not list(node.subscriptions)
    node.trigger_activate()
    assert state(node) == State.PRIMARY_STATE_ACTIVE
    assert sorted(sub.topic for sub in node.subscriptions) == ["cam0/camera_info", *CAMERAS]
    node.trigger_deactivate()
    assert state(node) == State.PRIMARY_STATE_INACTIVE and not list(node.subscriptions) and not list(node.timers)
    node.trigger_activate()  # again: the QoS override parameters declared on the first activation are reused
    assert len(list(node.subscriptions)) == 3
    node.trigger_deactivate()
    node.trigger_cleanup()
    assert state(node) == State.PRIMARY_STATE_UNCONFIGURED and not node.configured


def test_failing_configure_leaves_the_managed_node_unconfigured_and_stops_the_plain_one(make_node, tmp_path):
    missing = str(tmp_path / "missing.onnx")
    node = make_node(managed=True, model_path=missing)
    node.trigger_configure()
    assert state(node) == State.PRIMARY_STATE_UNCONFIGURED and missing in node.configure_error
    plain = FusionNode(managed=False)  # same context: the same (missing) model path
    with pytest.raises(StartupError, match=r"missing\.onnx"):
        plain.start()
    plain.destroy_node()


@pytest.mark.parametrize("post_set", [True, False], ids=["post_set_callback", "humble_fallback"])
def test_runtime_parameters_are_applied_after_the_set_and_bad_ones_refused(make_node, monkeypatch, post_set):
    monkeypatch.setattr(fusion_node, "HAS_POST_SET_CALLBACK", post_set)
    node = make_node(managed=False)
    results = node.set_parameters(
        [Parameter("num_hypotheses", value=5), Parameter("slop", value=0.05), Parameter("max_wait", value=0.2)]
    )
    assert all(result.successful for result in results)
    settings = node.pipeline.settings
    assert (settings.num_hypotheses, settings.slop, settings.max_wait) == (5, 0.05, 0.2)
    assert node.pipeline.source.slop_ns == 50_000_000 and node.pipeline.source.max_wait_ns == 200_000_000
    published = {topic for topic, _ in node.get_publisher_names_and_types_by_node(node.get_name(), "/")}
    assert "/fused/hypothesis_4" in published, "the new hypothesis index has its topic"
    refused = {
        "temperature": float("nan"),  # a range check lets NaN through: the node's own check refuses it
        "num_hypotheses": 100,  # out of the descriptor's range
        "backend": "torch",  # read-only
    }
    for name, value in refused.items():
        (result,) = node.set_parameters([Parameter(name, value=value)])
        assert not result.successful, name
    assert (settings.num_hypotheses, settings.backend) == (5, "onnxruntime")


def test_compositing_is_unset_by_default_and_follows_a_set_value(make_node):
    node = make_node(managed=False)
    pipeline = node.pipeline
    assert pipeline.settings.compositing is None
    assert pipeline.compositing == (pipeline.backend.has_visibility and pipeline.backend.compositing)
    (result,) = node.set_parameters([Parameter("compositing", value=True)])
    assert result.successful and pipeline.settings.compositing is True
    assert pipeline.compositing == pipeline.backend.has_visibility, "never without a visibility head"
    (wrong,) = node.set_parameters([Parameter("compositing", value="yes")])
    assert not wrong.successful and pipeline.settings.compositing is True


def test_compositing_set_at_start_overrides_the_model(make_node):
    node = make_node(managed=False, compositing=False)
    assert node.pipeline.settings.compositing is False and not node.pipeline.compositing


def test_camera_qos_follows_the_parameters_and_the_ros_overrides(make_node):
    node = make_node(managed=False, input_reliability="reliable", **{"qos_overrides./cam1/image.subscription.depth": 7})
    qos = {sub.topic: sub.qos_profile for sub in node.subscriptions}
    assert qos["cam0/image"].reliability == rclpy.qos.ReliabilityPolicy.RELIABLE and qos["cam0/image"].depth == 5
    assert qos["cam1/image"].depth == 7, "qos_overrides.<topic>.subscription.depth overrides input_queue_size"
    assert node.get_parameter("qos_overrides./cam0/image.subscription.reliability").value == "reliable"


@pytest.mark.parametrize(("managed", "transport"), [(False, "compressed"), (True, "raw"), (True, "compressed")])
def test_every_callback_and_timer_is_guarded(make_node, managed, transport):
    node = make_node(managed, input_transport=transport)
    if managed:
        assert not list(node.subscriptions), "an unconfigured managed node takes no input"
        node.trigger_configure()
        node.trigger_activate()
    subscriptions, timers = list(node.subscriptions), list(node.timers)
    assert len(subscriptions) == 3 and len(timers) == 2  # two cameras, camera_info; sync poll, diagnostics
    assert all(entry.callback.__qualname__ == GUARDED for entry in [*subscriptions, *timers])
    cameras = [sub for sub in subscriptions if sub.msg_type is CAMERA_MESSAGE_TYPES[transport]]
    suffix = "/compressed" if transport == "compressed" else ""
    assert [sub.topic for sub in cameras] == [f"{topic}{suffix}" for topic in CAMERAS]
    msg = CAMERA_MESSAGE_TYPES[transport]()
    msg.header.stamp.sec = -1  # stamp_nanoseconds raises RejectedInputError: the pipeline drops it, no exception
    for camera in cameras:
        camera.callback(msg)
    assert node.stats.drops().get("stamp_invalid") == 2
