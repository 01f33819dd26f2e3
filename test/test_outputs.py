"""The one message builder (fusionvae_ros.outputs) of the node and ``bag process``: a FusedSet's set_info,
hypotheses, mean, uncertainty and camera_info, all with its stamp and frame at its output size; the node's
publishers (every hypothesis also on its index topic); and the messages serialise for a bag and read back."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo

from fusionvae_ros.bag.bag_files import serialize_message, type_name, typestore
from fusionvae_ros.output_geometry import output_geometry
from fusionvae_ros.outputs import (
    CAMERA_INFO_TOPIC,
    HYPOTHESES_TOPIC,
    MEAN_TOPIC,
    OUTPUT_TYPES,
    SET_INFO_TOPIC,
    UNCERTAINTY_TOPIC,
    FusedOutputs,
    output_messages,
)
from fusionvae_ros.pipeline import FusedSet, PreparedView

STAMP_NS = 1_700_000_000_250_000_000
CAMERA = (64, 48)


def fused_set(output_size: str = "model", reference_info: CameraInfo | None = None) -> FusedSet:
    """A fused set of cameras 0 and 2 from a grey 16x16 model, with two hypotheses."""
    rng = np.random.default_rng(0)
    views = tuple(
        PreparedView(
            camera, STAMP_NS, "cam", 0.0, CAMERA, np.zeros((48, 64, 1), np.uint8), np.zeros((16, 16, 1), np.uint8)
        )
        for camera in (0, 2)
    )
    return FusedSet(
        views=views,
        stamp_ns=STAMP_NS,
        frame_id="table",
        hypotheses=rng.integers(0, 256, (2, 16, 16, 1), dtype=np.uint8),
        mean=rng.integers(0, 256, (16, 16, 1), dtype=np.uint8),
        uncertainty=rng.random((16, 16), dtype=np.float32),
        geometry=output_geometry(CAMERA, 16, "resize", output_size),
        reference_info=reference_info,
        backend_s=0.01,
    )


def test_every_message_of_a_set_shares_its_stamp_and_frame_in_publishing_order():
    messages = output_messages(fused_set())
    topics = [topic for topic, _ in messages.by_topic()]
    assert topics == [SET_INFO_TOPIC, HYPOTHESES_TOPIC, HYPOTHESES_TOPIC, MEAN_TOPIC, UNCERTAINTY_TOPIC]
    for _, msg in messages.by_topic():
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (
            1_700_000_000,
            250_000_000,
            "table",
        )
    (status,) = messages.set_info.status
    assert {item.key: item.value for item in status.values} == {
        "num_hypotheses": "2",
        "k": "2",
        "cameras": "0,2",
        "stamps": f"{STAMP_NS},{STAMP_NS}",
        "compositing": "false",
    }
    assert status.message == "2 hypotheses from cameras 0,2"
    assert [(msg.encoding, msg.width, msg.height) for msg in messages.hypotheses] == [("mono8", 16, 16)] * 2
    assert (messages.uncertainty.encoding, messages.camera_info) == ("32FC1", None)


def test_camera_sized_outputs_and_the_moved_camera_info():
    info = CameraInfo(width=64, height=48, distortion_model="plumb_bob", d=[0.1, 0.0, 0.0, 0.0, 0.0])
    info.k = [50.0, 0.0, 31.5, 0.0, 50.0, 23.5, 0.0, 0.0, 1.0]
    messages = output_messages(fused_set("camera", info))
    assert {(msg.width, msg.height) for msg in [*messages.hypotheses, messages.mean, messages.uncertainty]} == {
        (64, 48)
    }
    camera_info = messages.camera_info
    assert camera_info is not None and (camera_info.width, camera_info.height) == (64, 48)
    np.testing.assert_allclose(camera_info.k, info.k)
    assert list(camera_info.d) == [0.1, 0.0, 0.0, 0.0, 0.0] and camera_info.header.frame_id == "table"
    assert [topic for topic, _ in messages.by_topic()][-1] == CAMERA_INFO_TOPIC


def test_node_publishers_send_each_hypothesis_also_on_its_index_topic():
    published: dict[str, list] = {}

    class Publisher:
        def __init__(self, topic: str) -> None:
            self.topic = topic

        def publish(self, msg) -> None:
            published.setdefault(self.topic, []).append(msg)

    outputs = FusedOutputs(lambda msg_type, topic, depth: Publisher(topic), 5, 1)
    outputs.ensure_indexed_topics(2)
    messages = output_messages(fused_set())
    outputs.publish(messages)
    assert published["fused/hypothesis_0"] == messages.hypotheses[:1]
    assert published["fused/hypothesis_1"] == messages.hypotheses[1:]
    assert published[HYPOTHESES_TOPIC] == messages.hypotheses
    assert len(outputs.publishers()) == len(OUTPUT_TYPES) + 2


@pytest.mark.parametrize("output_size", ["model", "camera"])
def test_messages_serialise_for_a_bag_and_read_back(output_size):
    info = CameraInfo(width=64, height=48, k=[50.0, 0.0, 31.5, 0.0, 50.0, 23.5, 0.0, 0.0, 1.0])
    for topic, msg in output_messages(fused_set(output_size, info)).by_topic():
        assert type_name(type(msg)) == type_name(OUTPUT_TYPES[topic])
        data = serialize_message(msg)
        assert serialize_message(msg) == data, "the same message always gives the same bytes"
        stored = typestore().deserialize_cdr(data, type_name(type(msg)))
        assert stored.header.frame_id == "table"
        if topic == SET_INFO_TOPIC:
            assert {item.key: item.value for item in stored.status[0].values}["num_hypotheses"] == "2"
        elif topic != CAMERA_INFO_TOPIC:
            assert bytes(stored.data) == bytes(msg.data)
