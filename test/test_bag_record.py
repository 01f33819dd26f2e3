"""replay and record as real processes over DDS (private domain, loopback): bytes, /clock and stopping.

Replay publishes every stored message unchanged and bag time on /clock; record stores what arrives, stops
cleanly on SIGINT/SIGTERM with a readable bag, and a recorder killed outright leaves no half-written bag.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ros_helpers import ros_environment, unique_domain_id
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from fusionvae_ros.bag.make_bag import MakeBagOptions, make_bag

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]
CAMERAS = ["/camera_0/image_raw", "/camera_1/image_raw"]
TYPESTORE = get_typestore(Stores.ROS2_KILTED)


@pytest.fixture(scope="module")
def input_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("record") / "input"
    make_bag(path, MakeBagOptions(num_sets=15, num_cameras=2, seed=8))
    return path


def bag_process(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "fusionvae_ros.bag", *args]
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env)


def wait_for_text(log: Path, text: str, count: int = 1, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text().count(text) < count:
        assert time.monotonic() < deadline, f"no {count}x '{text}' in {log}:\n{log.read_text()}"
        time.sleep(0.05)


def messages(path: Path) -> dict[str, list[tuple[int, bytes]]]:
    found: dict[str, list[tuple[int, bytes]]] = {}
    with Reader(path) as reader:
        for connection, log_time, data in reader.messages():
            found.setdefault(connection.topic, []).append((log_time, bytes(data)))
    return found


def test_replay_delivers_every_message_unchanged_with_bag_time_on_clock(input_bag, tmp_path):
    env = ros_environment(unique_domain_id())
    recorder = bag_process(
        env, tmp_path / "record.log", "record", "-o", str(tmp_path / "out"), "--topics", *CAMERAS, "/clock"
    )
    replay_args = ["replay", str(input_bag), "--rate", "2", "--topics", *CAMERAS, "--wait-for-subscribers", "1"]
    replay = bag_process(env, tmp_path / "replay.log", *replay_args)
    assert replay.wait(600) == 0, (tmp_path / "replay.log").read_text()
    time.sleep(0.5)
    recorder.send_signal(signal.SIGINT)
    assert recorder.wait(120) == 0, (tmp_path / "record.log").read_text()

    sent, received = messages(input_bag), messages(tmp_path / "out")
    for topic in CAMERAS:
        assert [data for _, data in received[topic]] == [data for _, data in sent[topic]], f"{topic} differs"
    clock = [TYPESTORE.deserialize_cdr(data, "rosgraph_msgs/msg/Clock").clock for _, data in received["/clock"]]
    bag_times = [stamp.sec * 10**9 + stamp.nanosec for stamp in clock]
    assert bag_times == sorted(bag_times), "bag time never runs backwards in one pass"
    first_log = min(log for topic in CAMERAS for log, _ in sent[topic])
    last_log = max(log for topic in CAMERAS for log, _ in sent[topic])
    assert first_log <= bag_times[0] and bag_times[-1] > last_log, "clock spans the bag and runs on after it"
    assert len(bag_times) > len(received[CAMERAS[0]]), "clock also ticks between messages"


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopped_recorder_leaves_a_readable_bag(stop_signal, input_bag, tmp_path):
    env = ros_environment(unique_domain_id())
    replay = bag_process(env, tmp_path / "replay.log", "replay", str(input_bag), "--loop", "--topics", *CAMERAS)
    try:
        recorder = bag_process(
            env, tmp_path / "record.log", "record", "-o", str(tmp_path / "out"), "--topics", *CAMERAS
        )
        wait_for_text(tmp_path / "record.log", "record: subscribed to", count=len(CAMERAS))
        time.sleep(1.0)
        recorder.send_signal(stop_signal)
        assert recorder.wait(120) == 0, (tmp_path / "record.log").read_text()
    finally:
        replay.send_signal(signal.SIGINT)
        replay.wait(120)
    assert (tmp_path / "out" / "metadata.yaml").is_file()
    recorded = messages(tmp_path / "out")
    assert set(recorded) == set(CAMERAS) and all(recorded[topic] for topic in CAMERAS)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary folder left"


def test_killed_recorder_leaves_nothing_at_the_output_path(input_bag, tmp_path):
    env = ros_environment(unique_domain_id())
    replay = bag_process(env, tmp_path / "replay.log", "replay", str(input_bag), "--loop", "--topics", *CAMERAS)
    try:
        recorder = bag_process(
            env, tmp_path / "record.log", "record", "-o", str(tmp_path / "out"), "--topics", *CAMERAS
        )
        wait_for_text(tmp_path / "record.log", "record: subscribed to", count=len(CAMERAS))
        time.sleep(0.5)
        recorder.kill()
        recorder.wait(120)
    finally:
        replay.send_signal(signal.SIGINT)
        replay.wait(120)
    assert not (tmp_path / "out").exists(), "a killed recorder must not leave a half-written bag at OUTPUT"
