"""Identifiable hypotheses: per set, fused/set_info says how many hypotheses there are and fused/hypothesis_<i>
carries hypothesis i (the same image as the i-th of the set on fused/hypotheses). A consumer that loses one
message still knows which hypotheses it holds and which one is missing. Real node process, real DDS; the loss is
made on the consumer side by discarding one received message before the set is assembled."""

from __future__ import annotations

import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_helpers import camera_image, count, stamp_ns
from sensor_msgs.msg import Image

pytestmark = pytest.mark.ros

CAMERAS = ["cam0/image", "cam1/image"]
NUM_HYPOTHESES = 3


NODE_PARAMETERS = {
    "camera_topics": CAMERAS,
    "num_hypotheses": NUM_HYPOTHESES,
    "input_reliability": "reliable",
    "inference_queue_size": 5,
}


@pytest.fixture(scope="module")
def fusion(live_node):
    """The node, with fused/set_info and the per-index hypothesis topics collected."""
    node, harness, _ = live_node
    topics = {"fused/set_info": DiagnosticArray}
    topics.update({f"fused/hypothesis_{index}": Image for index in range(NUM_HYPOTHESES)})
    subscriptions = [harness.collect(topic, kind) for topic, kind in topics.items()]
    harness.wait_until(lambda: all(sub.get_publisher_count() for sub in subscriptions), 30, "the indexed topics")
    return node, harness


def assemble(infos: list[DiagnosticArray], indexed: dict[int, list[Image]]) -> dict[int, dict]:
    """The README's consumer logic: per set stamp, its size (set_info) and the hypotheses held by index."""
    sets = {}
    for info in infos:
        values = {item.key: item.value for item in info.status[0].values}
        sets[stamp_ns(info)] = {"size": int(values["num_hypotheses"]), "held": {}}
    for index, messages in indexed.items():
        for msg in messages:
            sets[stamp_ns(msg)]["held"][index] = msg
    for entry in sets.values():
        entry["missing"] = sorted(set(range(entry["size"])) - set(entry["held"]))
    return sets


def test_identity_of_every_hypothesis_survives_one_lost_message(fusion):
    node, harness = fusion
    since = time.monotonic()
    base = time.time_ns()
    for frame in range(4):
        for camera in range(2):
            harness.publish(camera, camera_image(base + frame * 100_000_000, f"cam{camera}", seed=frame))
        time.sleep(0.1)
    report = harness.settled_diagnostics()
    assert count(report, "sets_published") == 4
    harness.wait_until(
        lambda: len(harness.messages(f"fused/hypothesis_{NUM_HYPOTHESES - 1}", since)) == 4, 10, "indexed hypotheses"
    )
    infos = [item.msg for item in harness.messages("fused/set_info", since)]
    indexed = {index: [item.msg for item in harness.messages(f"fused/hypothesis_{index}", since)] for index in range(3)}
    lost = indexed[1].pop(2)  # hypothesis 1 of the third set never arrives
    sets = assemble(infos, indexed)

    assert len(sets) == 4 and all(entry["size"] == NUM_HYPOTHESES for entry in sets.values())
    assert {stamp: entry["missing"] for stamp, entry in sets.items() if entry["missing"]} == {stamp_ns(lost): [1]}
    combined = [item.msg for item in harness.messages("fused/hypotheses", since)]
    for stamp, entry in sets.items():
        in_order = [msg for msg in combined if stamp_ns(msg) == stamp]  # the documented topic, back to back
        assert len(in_order) == NUM_HYPOTHESES
        for index, msg in entry["held"].items():
            assert bytes(msg.data) == bytes(in_order[index].data), "hypothesis_<i> is the set's i-th hypothesis"
            assert msg.header.frame_id == in_order[index].header.frame_id
    assert node.alive()
