"""process: offline fusion of a make-bag bag with the node's synchroniser and fusion step, no DDS.

Every generated set comes out once with the K make-bag gave it, stamped with its newest view; a fixed seed
gives identical bags run to run, another seed other hypotheses; partial sets are emitted only after max_wait of
bag time, as the live node does.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ros_helpers import node_test_model
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from fusionvae_ros.bag.make_bag import CameraTiming, MakeBagOptions, make_bag
from fusionvae_ros.bag.process import node_settings, process_bag
from fusionvae_ros.bag.score import load_outputs, score_bags

pytestmark = pytest.mark.slow

CAMERAS = ["/camera_0/image_raw", "/camera_1/image_raw", "/camera_2/image_raw"]
TYPESTORE = get_typestore(Stores.ROS2_KILTED)
NUM_SETS = 20
MAX_WAIT = 0.05


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    model = node_test_model()
    folder = tmp_path_factory.mktemp("process")
    make_bag(folder / "input", MakeBagOptions(num_sets=NUM_SETS, seed=9, timing=CameraTiming(drop_prob=0.3)))

    def run(name: str, seed: int) -> str:
        settings = node_settings(
            camera_topics=CAMERAS, model_path=str(model.path), num_hypotheses=3, seed=seed, max_wait=MAX_WAIT
        )
        process_bag(str(folder / "input"), str(folder / name), settings)
        return str(folder / name)

    return str(folder / "input"), run("first", 5), run("again", 5), run("other", 6)


def raw_messages(path: str) -> list[tuple[str, int, bytes]]:
    with Reader(path) as reader:
        return [(conn.topic, log_time, bytes(data)) for conn, log_time, data in reader.messages()]


def test_every_set_is_fused_once_with_its_k_and_newest_view_stamp(bags):
    input_bag, first, _, _ = bags
    report = score_bags(first, input_bag)
    assert report.missing_set_ids == report.unmatched_stamps_ns == report.duplicate_set_ids == []
    assert report.latency_reference.startswith("offline process:"), "process timing must not pass for live latency"
    assert "\ntiming (offline process:" in report.to_text() and "\nlatency" not in report.to_text()
    with Reader(input_bag) as reader:
        infos = [
            json.loads(TYPESTORE.deserialize_cdr(data, conn.msgtype).data)
            for conn, _, data in reader.messages()
            if conn.topic == "/fusionvae/set_info"
        ]
    for k in {info["k"] for info in infos}:
        assert report.per_k[str(k)]["fused"] == sum(info["k"] == k for info in infos)
    outputs, _ = load_outputs(first)
    assert sorted(outputs) == sorted(max(info["views"].values()) for info in infos)
    assert all(len(output.hypotheses) == 3 and output.uncertainty.dtype == np.float32 for output in outputs.values())


def test_fixed_seed_is_reproducible_and_another_seed_is_not(bags):
    _, first, again, other = bags
    assert raw_messages(again) == raw_messages(first)
    first_outputs, _ = load_outputs(first)
    other_outputs, _ = load_outputs(other)
    assert sorted(other_outputs) == sorted(first_outputs)
    differing = sum(
        not np.array_equal(np.stack(first_outputs[s].hypotheses), np.stack(other_outputs[s].hypotheses))
        for s in first_outputs
    )
    assert differing == len(first_outputs)


def test_partial_sets_wait_max_wait_of_bag_time(bags):
    input_bag, first, _, _ = bags
    arrivals = {}
    with Reader(input_bag) as reader:
        for conn, log_time, data in reader.messages():
            if conn.topic in CAMERAS:
                msg = TYPESTORE.deserialize_cdr(data, conn.msgtype)
                arrivals[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = log_time
        infos = [
            json.loads(TYPESTORE.deserialize_cdr(data, conn.msgtype).data)
            for conn, _, data in reader.messages()
            if conn.topic == "/fusionvae/set_info"
        ]
    outputs, _ = load_outputs(first)
    for info in infos:
        output = outputs[max(info["views"].values())]
        if info["k"] == 3:
            last = max(arrivals[stamp] for stamp in info["views"].values())
            assert output.arrival_ns == last, "complete sets go out with their last view"
        else:
            first = min(arrivals[stamp] for stamp in info["views"].values())
            assert output.arrival_ns == first + round(MAX_WAIT * 1e9), "partial sets after max_wait of bag time"
