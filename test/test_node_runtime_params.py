"""Parameters of the running node through the real ROS parameter services: descriptors with ranges, run-time
changes of num_hypotheses / temperature / slop / max_wait that visibly change what the node publishes, and
refusals of bad or read-only changes. The node runs with its default (best-effort, sensor-data) input QoS here,
so every scenario checks from /diagnostics that the node received all the images it was sent, and repeats
otherwise."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import DescribeParameters, SetParameters
from ros_helpers import RosHarness, camera_image, count, stamp_ns

pytestmark = pytest.mark.ros

CAMERAS = ["cam_a/image", "cam_b/image"]
STARTUP = {"num_hypotheses": 4, "temperature": 1.0, "slop": 0.01, "max_wait": 0.3}
MS = 1_000_000


NODE_PARAMETERS = {"camera_topics": CAMERAS, "output_frame_id": "fused_frame", **STARTUP}


def call(harness: RosHarness, service_type, name: str, request):
    """Call a service of the node and wait for the response."""
    client = harness.node.create_client(service_type, f"/fusion_node/{name}")
    assert client.wait_for_service(timeout_sec=30), f"/fusion_node/{name} not available"
    future = client.call_async(request)
    harness.wait_until(future.done, 30, f"{name} response")
    harness.node.destroy_client(client)
    return future.result()


def set_parameter(harness: RosHarness, name: str, value: object):
    """Set one parameter; the SetParametersResult."""
    if isinstance(value, str):
        wire = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    elif isinstance(value, float):
        wire = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    else:
        wire = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    response = call(
        harness, SetParameters, "set_parameters", SetParameters.Request(parameters=[Parameter(name=name, value=wire)])
    )
    (result,) = response.results
    return result


def delta(after: dict[str, str], before: dict[str, str], key: str) -> int:
    return count(after, key) - count(before, key)


@contextlib.contextmanager
def changed(harness: RosHarness, **values: object) -> Iterator[None]:
    """Set run-time parameters for the duration of a block, then restore their start-up values."""
    try:
        for name, value in values.items():
            result = set_parameter(harness, name, value)
            assert result.successful, f"{name}={value}: {result.reason}"
        yield
    finally:
        for name in values:
            set_parameter(harness, name, STARTUP[name])


def scenario(harness: RosHarness, publish: Callable[[int], None], attempts: int = 3):
    """Run ``publish(base stamp)`` until the node received every image it sent (best-effort input may lose one);
    (diagnostics before, after, hypothesis runs as (stamp, messages), monotonic start time)."""
    for _ in range(attempts):
        before = harness.settled_diagnostics(lossy_input=True)
        sent_before = sum(harness.published)
        since = time.monotonic()
        publish(time.time_ns())
        after = harness.settled_diagnostics(lossy_input=True)
        received = sum(count(after, f"views_received_cam{c}") - count(before, f"views_received_cam{c}") for c in (0, 1))
        if received == sum(harness.published) - sent_before:
            received_hypotheses = harness.messages("fused/hypotheses", since)
            runs = [
                (stamp, [item.msg for item in run])
                for stamp, run in itertools.groupby(received_hypotheses, key=lambda item: stamp_ns(item.msg))
            ]
            return before, after, runs, since
    pytest.fail(f"the node lost camera images in {attempts} attempts in a row (best-effort input)")


def publish_views(harness: RosHarness, base_ns: int, cameras: tuple[int, ...] = (0, 1), offset_ns: int = 1000) -> None:
    """Publish one image on each of ``cameras``, camera c stamped ``c * offset_ns`` after ``base_ns``."""
    for camera in cameras:
        harness.publish(camera, camera_image(base_ns + camera * offset_ns, f"cam{camera}"))


def test_descriptors_carry_descriptions_and_ranges(live_node):
    harness = live_node.harness
    response = call(
        harness,
        DescribeParameters,
        "describe_parameters",
        DescribeParameters.Request(names=["slop", "num_hypotheses", "backend"]),
    )
    slop, num_hypotheses, backend = response.descriptors
    assert slop.description and not slop.read_only
    assert (slop.floating_point_range[0].from_value, slop.floating_point_range[0].to_value) == (0.0, 1.0)
    assert num_hypotheses.integer_range[0].from_value == 1
    assert backend.read_only and "onnxruntime" in backend.additional_constraints


def test_output_frame_id_parameter_and_default_best_effort_input(live_node):
    harness = live_node.harness
    *_, runs, _ = scenario(harness, lambda base: publish_views(harness, base))
    ((_, hypotheses),) = runs
    assert len(hypotheses) == STARTUP["num_hypotheses"]
    assert {msg.header.frame_id for msg in hypotheses} == {"fused_frame"}


@pytest.mark.parametrize("num_hypotheses", [2, 7])
def test_num_hypotheses_changes_at_run_time(live_node, num_hypotheses):
    harness = live_node.harness
    with changed(harness, num_hypotheses=num_hypotheses):
        *_, runs, _ = scenario(harness, lambda base: publish_views(harness, base))
        assert [len(hypotheses) for _, hypotheses in runs] == [num_hypotheses]
        assert harness.diagnostics_after(time.monotonic())["num_hypotheses"] == str(num_hypotheses)


def test_temperature_zero_at_run_time_makes_every_hypothesis_the_prior_mode(live_node):
    harness = live_node.harness
    with changed(harness, temperature=0.0):
        *_, runs, since = scenario(harness, lambda base: publish_views(harness, base))
        ((stamp, hypotheses),) = runs
        assert len({bytes(msg.data) for msg in hypotheses}) == 1, "no noise: all hypotheses identical"
        (std,) = [item.msg for item in harness.messages("fused/uncertainty", since) if stamp_ns(item.msg) == stamp]
        spread = np.frombuffer(std.data, np.float32).max()
        assert spread < 1e-4, f"identical hypotheses have no spread beyond float rounding, got {spread}"
    *_, runs, _ = scenario(harness, lambda base: publish_views(harness, base))
    ((_, hypotheses),) = runs
    assert len({bytes(msg.data) for msg in hypotheses}) > 1, "temperature 1 again: the hypotheses differ"


def test_max_wait_changes_at_run_time(live_node):
    harness = live_node.harness
    with changed(harness, max_wait=1.5):
        before, after, _, since = scenario(harness, lambda base: publish_views(harness, base, cameras=(0,)))
        assert delta(after, before, "sets_k1") == 1
        first_output = harness.messages("fused/hypotheses", since)[0].at
        assert first_output - since >= 1.5, "the partial set waits the new max_wait (start-up value 0.3 s)"


def test_slop_changes_at_run_time(live_node):
    harness = live_node.harness

    def thirty_ms_apart(base_ns: int) -> None:
        publish_views(harness, base_ns, offset_ns=30 * MS)

    with changed(harness, slop=0.05):
        before, after, runs, _ = scenario(harness, thirty_ms_apart)
        assert delta(after, before, "sets_k2") == 1, "within the new slop: one complete set"
        assert len(runs) == 1
    before, after, runs, _ = scenario(harness, thirty_ms_apart)  # slop back at 10 ms: two single-view sets
    assert (delta(after, before, "sets_k2"), delta(after, before, "sets_k1")) == (0, 2)
    # both expire together; the latest-wins inference queue may replace the first by the second before inference
    assert delta(after, before, "sets_published") + delta(after, before, "drops_inference_busy") == 2
    assert len(runs) == delta(after, before, "sets_published")


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("slop", -1.0, "range"),
        ("num_hypotheses", 100, "range"),
        ("temperature", float("nan"), "temperature"),  # newer rclpy's range check or the node's own check
        ("backend", "torch", "read-only"),
        ("camera_topics", "x", ""),
    ],
)
def test_bad_or_read_only_changes_are_refused(live_node, name, value, reason):
    node, harness, _ = live_node
    result = set_parameter(harness, name, value)
    assert not result.successful
    assert reason in result.reason
    assert node.alive()
