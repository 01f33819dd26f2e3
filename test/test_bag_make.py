"""make-bag writes a real rosbag2 (MCAP) that rosbags reads back: topics, counts, stamps, encodings, set records.

The bag is read with rosbags' own Reader and typestore (not the tools' reader), so these checks hold for any
rosbag2 consumer; timing is checked against the options it was generated with.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from fusionvae_ros.bag.make_bag import CameraTiming, MakeBagOptions, make_bag

REPO = Path(__file__).resolve().parents[1]
CAMERAS = ("/camera_0/image_raw", "/camera_1/image_raw", "/camera_2/image_raw")
TYPESTORE = get_typestore(Stores.ROS2_KILTED)
TIMING = CameraTiming(rate_hz=20.0, offsets_ms=(0.0, 3.0, 6.0), jitter_ms=0.5, latency_ms=4.0, drop_prob=0.3)
NUM_SETS = 24


def read_bag(path: Path) -> dict[str, list[tuple[int, object]]]:
    """Every message of a bag, deserialised by rosbags: topic -> [(log time, message)] in log-time order."""
    messages: dict[str, list[tuple[int, object]]] = {}
    with Reader(path) as reader:
        for connection, log_time, data in reader.messages():
            msg = TYPESTORE.deserialize_cdr(data, connection.msgtype)
            messages.setdefault(connection.topic, []).append((log_time, msg))
    return messages


def stamp(msg: object) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


@pytest.fixture(scope="module")
def demo_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("make_bag") / "demo"
    make_bag(path, MakeBagOptions(num_sets=NUM_SETS, seed=3, timing=TIMING))
    return path


def test_bag_has_metadata_topics_types_and_counts(demo_bag):
    assert (demo_bag / "metadata.yaml").is_file()
    with Reader(demo_bag) as reader:
        topics = {name: info.msgtype for name, info in reader.topics.items()}
        counts = {name: info.msgcount for name, info in reader.topics.items()}
        assert {conn.ext.serialization_format for conn in reader.connections} == {"cdr"}
    assert topics == {
        **dict.fromkeys(CAMERAS, "sensor_msgs/msg/Image"),
        "/ground_truth/image": "sensor_msgs/msg/Image",
        "/fusionvae/set_info": "std_msgs/msg/String",
    }
    assert counts["/ground_truth/image"] == counts["/fusionvae/set_info"] == NUM_SETS
    infos = [json.loads(msg.data) for _, msg in read_bag(demo_bag)["/fusionvae/set_info"]]
    for camera in CAMERAS:  # each camera published exactly the sets whose record lists it
        assert counts[camera] == sum(camera in info["views"] for info in infos)
    assert sum(counts[camera] for camera in CAMERAS) < 3 * NUM_SETS, "drop_prob 0.3 should drop some frames"


def test_images_are_mono8_32x32_and_targets_look_like_digits(demo_bag):
    messages = read_bag(demo_bag)
    for topic in (*CAMERAS, "/ground_truth/image"):
        for _, msg in messages[topic]:
            assert (msg.encoding, msg.height, msg.width, msg.step) == ("mono8", 32, 32, 32)
            assert msg.data.dtype == np.uint8 and msg.data.size == 32 * 32
    target = messages["/ground_truth/image"][0][1].data.reshape(32, 32)
    assert target[:2].max() == 0 and target.max() > 200, "MNIST digits are padded with black borders"
    view = messages[CAMERAS[0]][0][1].data.reshape(32, 32)
    assert (view[:2] != 0).mean() > 0.2, "camera views carry the FusionMNIST noise (also on the black border)"


def test_stamps_follow_the_rate_offsets_and_set_records(demo_bag):
    messages = read_bag(demo_bag)
    truth = [stamp(msg) for _, msg in messages["/ground_truth/image"]]
    assert np.allclose(np.diff(truth), 1e9 / TIMING.rate_hz, atol=1)
    infos = [json.loads(msg.data) for _, msg in messages["/fusionvae/set_info"]]
    assert [info["stamp_ns"] for info in infos] == truth
    assert {info["k"] for info in infos} <= {1, 2, 3} and len({info["k"] for info in infos}) > 1
    view_stamps = {(topic, stamp(msg)): log_time for topic in CAMERAS for log_time, msg in messages[topic]}
    for info in infos:
        assert info["k"] == len(info["views"])
        for topic, view_stamp in info["views"].items():
            offset_ms = TIMING.offsets_ms[CAMERAS.index(topic)]
            error_ms = (view_stamp - info["stamp_ns"]) / 1e6 - offset_ms
            assert abs(error_ms) <= 2 * TIMING.jitter_ms + 1e-6
            delay_ms = (view_stamps[topic, view_stamp] - view_stamp) / 1e6  # log time is after the stamp
            assert 0.5 * TIMING.latency_ms - 1e-6 <= delay_ms <= 1.5 * TIMING.latency_ms + 1e-6
    log_times = [log_time for topic in messages for log_time, _ in messages[topic]]
    assert min(log_times) >= truth[0]


def test_same_seed_gives_the_same_bag_and_another_seed_does_not(tmp_path, demo_bag):
    make_bag(tmp_path / "again", MakeBagOptions(num_sets=NUM_SETS, seed=3, timing=TIMING))
    make_bag(tmp_path / "other", MakeBagOptions(num_sets=NUM_SETS, seed=4, timing=TIMING))

    def content(path: Path) -> list[tuple[str, int, bytes]]:
        with Reader(path) as reader:
            return [(conn.topic, log_time, bytes(data)) for conn, log_time, data in reader.messages()]

    assert content(tmp_path / "again") == content(demo_bag)
    assert content(tmp_path / "other") != content(demo_bag)


def test_upscaled_camera_resolution(tmp_path):
    make_bag(tmp_path / "vga", MakeBagOptions(num_sets=2, num_cameras=2, width=640, height=480))
    messages = read_bag(tmp_path / "vga")
    assert set(messages) == {*CAMERAS[:2], "/ground_truth/image", "/fusionvae/set_info"}
    for topic in (*CAMERAS[:2], "/ground_truth/image"):
        for _, msg in messages[topic]:
            assert (msg.encoding, msg.width, msg.height, msg.step, msg.data.size) == ("mono8", 640, 480, 640, 640 * 480)


@pytest.mark.slow
def test_cli_writes_a_bag_and_rejects_bad_options_with_one_line(tmp_path):
    command = [sys.executable, "-m", "fusionvae_ros.bag", "make-bag", str(tmp_path / "cli"), "--num-sets", "3"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "3 view sets" in done.stdout
    assert len(read_bag(tmp_path / "cli")["/ground_truth/image"]) == 3

    again = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert again.returncode == 2 and "exists already" in again.stderr and len(again.stderr.splitlines()) == 1

    bad = subprocess.run(
        [*command[:4], str(tmp_path / "bad"), "--num-cameras", "4"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert bad.returncode == 2 and "--num-cameras" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert not (tmp_path / "bad").exists()
