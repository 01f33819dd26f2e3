"""score against known outputs: ground truth as hypotheses scores zero, all-black hypotheses score worst, and
missing, stray and repeated outputs are reported; latency comes from the recorded arrival times.

The fused bags are written here, as real rosbag2 files, from targets read with rosbags directly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore
from std_msgs.msg import Header

from fusionvae_ros.bag.bag_files import OutputBag, ns_to_stamp, serialize_message
from fusionvae_ros.bag.make_bag import CameraTiming, MakeBagOptions, make_bag
from fusionvae_ros.bag.score import score_bags
from fusionvae_ros.image_codec import encode_image

REPO = Path(__file__).resolve().parents[1]
TYPESTORE = get_typestore(Stores.ROS2_KILTED)
NUM_SETS = 16
OUTPUT_DELAY_NS = 7_000_000  # outputs are logged this long after the newest view
TIMING = CameraTiming(drop_prob=0.35)


def read_sets(path: Path) -> list[dict]:
    """Set records of a make-bag bag, each with its target pixels [H, W, 1] and view arrival times."""
    records, targets, arrivals = [], {}, {}
    with Reader(path) as reader:
        for connection, log_time, data in reader.messages():
            msg = TYPESTORE.deserialize_cdr(data, connection.msgtype)
            if connection.topic == "/fusionvae/set_info":
                records.append(json.loads(msg.data))
                continue
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            if connection.topic == "/ground_truth/image":
                targets[stamp] = msg.data.reshape(msg.height, msg.width, 1)
            else:
                arrivals[connection.topic, stamp] = log_time
    for record in records:
        record["target"] = targets[record["stamp_ns"]]
        record["arrivals"] = {topic: arrivals[topic, stamp] for topic, stamp in record["views"].items()}
    return records


@pytest.fixture(scope="module")
def input_bag(tmp_path_factory) -> tuple[Path, list[dict]]:
    path = tmp_path_factory.mktemp("score") / "input"
    make_bag(path, MakeBagOptions(num_sets=NUM_SETS, seed=5, timing=TIMING))
    return path, read_sets(path)


def write_fused(
    path: Path,
    sets: list[dict],
    hypotheses: Callable[[dict], list[np.ndarray]],
    skip: tuple[int, ...] = (),
    extra_stamps: tuple[int, ...] = (),
    with_cameras: bool = False,
) -> Path:
    """A fused-output bag like the node's: per set S hypotheses, a mean and a 32FC1 uncertainty, same stamp."""
    with OutputBag(path) as out:
        for topic in ("/fused/hypotheses", "/fused/mean", "/fused/uncertainty"):
            out.add_topic(topic, "sensor_msgs/msg/Image")
        if with_cameras:
            for topic in ("/camera_0/image_raw", "/camera_1/image_raw", "/camera_2/image_raw"):
                out.add_topic(topic, "sensor_msgs/msg/Image")
        outputs = [
            (max(record["views"].values()), max(record["arrivals"].values()), record)
            for record in sets
            if record["set"] not in skip
        ]
        outputs += [(stamp, stamp, sets[0]) for stamp in extra_stamps]
        for stamp, arrival, record in outputs:
            header = Header(stamp=ns_to_stamp(stamp), frame_id="camera_0")
            if with_cameras:
                for topic, view_stamp in record["views"].items():
                    view_header = Header(stamp=ns_to_stamp(view_stamp))
                    out.write(
                        topic, record["arrivals"][topic], serialize_message(encode_image(record["target"], view_header))
                    )
            images = hypotheses(record)
            log_time = arrival + OUTPUT_DELAY_NS if with_cameras else stamp + OUTPUT_DELAY_NS
            for image in images:
                out.write("/fused/hypotheses", log_time, serialize_message(encode_image(image, header)))
            mean = np.mean(images, axis=0).round().astype(np.uint8)
            out.write("/fused/mean", log_time, serialize_message(encode_image(mean, header)))
            std = np.std(np.asarray(images, dtype=np.float32) / 255, axis=0)[..., 0]
            out.write("/fused/uncertainty", log_time, serialize_message(encode_image(std, header)))
    return path


def black_mse(record: dict) -> float:
    return float(np.mean((record["target"] / 255.0) ** 2))


def test_ground_truth_hypotheses_score_zero_for_every_k(input_bag, tmp_path):
    path, sets = input_bag
    fused = write_fused(tmp_path / "perfect", sets, lambda record: [record["target"]] * 3)
    report = score_bags(str(fused), str(path))
    ks = sorted({record["k"] for record in sets})
    assert list(report.per_k) == [*map(str, ks), "all"]
    for k in ks:
        row = report.per_k[str(k)]
        assert row["sets"] == row["fused"] == sum(record["k"] == k for record in sets)
        assert row["missing"] == 0
        assert row["mse_min"] == 0.0 and row["mean_mse"] == 0.0
    assert report.per_k["all"]["sets"] == NUM_SETS
    assert report.missing_set_ids == report.unmatched_stamps_ns == report.duplicate_set_ids == []


def test_black_hypotheses_score_the_all_black_reference_and_worse_than_anything_else(input_bag, tmp_path):
    path, sets = input_bag
    black = score_bags(
        str(write_fused(tmp_path / "black", sets, lambda r: [np.zeros_like(r["target"])] * 2)), str(path)
    )
    dim = score_bags(str(write_fused(tmp_path / "dim", sets, lambda r: [r["target"] // 2] * 2)), str(path))
    mixed = write_fused(tmp_path / "mixed", sets, lambda r: [np.zeros_like(r["target"]), r["target"], r["target"] // 2])
    best_of_three = score_bags(str(mixed), str(path))
    expected_black = np.mean([black_mse(record) for record in sets])
    assert black.per_k["all"]["mse_min"] == pytest.approx(expected_black)
    assert black.per_k["all"]["mse_min"] == pytest.approx(black.per_k["all"]["black_mse"])
    for k in black.per_k:
        assert black.per_k[k]["mse_min"] > dim.per_k[k]["mse_min"] > 0
    assert best_of_three.per_k["all"]["mse_min"] == 0.0, "MSE_min takes the best hypothesis"
    assert best_of_three.per_k["all"]["mean_mse"] > 0.0, "the mean of a black, a perfect and a dim image is off"


def test_a_bag_without_any_output_reports_every_set_missing(input_bag, tmp_path):
    path, sets = input_bag
    report = score_bags(
        str(write_fused(tmp_path / "silent", sets, lambda r: [], skip=tuple(range(NUM_SETS)))), str(path)
    )
    assert report.missing_set_ids == list(range(NUM_SETS))
    assert report.per_k["all"] == {
        "sets": NUM_SETS,
        "fused": 0,
        "missing": NUM_SETS,
        "mse_min": None,
        "mean_mse": None,
        "black_mse": None,
    }
    assert report.latency_ms is None
    assert f"missing sets (no output): {NUM_SETS} (set 0, 1, 2," in report.to_text()


@pytest.mark.slow
def test_missing_stray_and_repeated_outputs_are_reported(input_bag, tmp_path):
    path, sets = input_bag
    repeated = next(record for record in sets if record["k"] >= 2 and record["set"] not in (1, 4))
    other_view_stamp = min(repeated["views"].values())  # a second output for this set, at its other view's stamp
    stray = sets[-1]["stamp_ns"] + 10**9
    fused = write_fused(
        tmp_path / "gaps", sets, lambda r: [r["target"]], skip=(1, 4), extra_stamps=(stray, other_view_stamp)
    )
    done = subprocess.run(
        [sys.executable, "-m", "fusionvae_ros.bag", "score", str(fused), "--input", str(path), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["missing_set_ids"] == [1, 4]
    assert report["unmatched_stamps_ns"] == [stray]
    assert report["duplicate_set_ids"] == [repeated["set"]]
    assert report["per_k"]["all"]["fused"] == NUM_SETS - 2
    for k in {str(sets[1]["k"]), str(sets[4]["k"])}:
        assert report["per_k"][k]["missing"] >= 1

    text = subprocess.run(
        [sys.executable, "-m", "fusionvae_ros.bag", "score", str(fused), "--input", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    ).stdout
    assert "MSE_min" in text and "missing sets (no output): 2 (set 1, 4)" in text


def test_latency_from_recorded_views_or_from_stamps(input_bag, tmp_path):
    path, sets = input_bag
    with_views = score_bags(
        str(write_fused(tmp_path / "live", sets, lambda r: [r["target"]], with_cameras=True)), str(path)
    )
    assert with_views.latency_reference == "from newest view's arrival"
    assert with_views.latency_ms == pytest.approx({"p50": 7.0, "p90": 7.0, "p99": 7.0, "max": 7.0})
    from_stamps = score_bags(str(write_fused(tmp_path / "offline", sets, lambda r: [r["target"]])), str(path))
    assert from_stamps.latency_reference == "log time minus header stamp"
    assert from_stamps.latency_ms["max"] == pytest.approx(7.0)


def test_upscaled_input_is_scored_at_the_model_resolution(tmp_path):
    from fusionvae_core.data.framing import frame_image

    path = tmp_path / "vga"
    make_bag(path, MakeBagOptions(num_sets=3, width=640, height=480))
    sets = read_sets(path)
    fused = write_fused(tmp_path / "fused", sets, lambda r: [frame_image(r["target"], 32)] * 2)
    report = score_bags(str(fused), str(path))
    assert report.per_k["all"]["fused"] == 3 and report.per_k["all"]["mse_min"] == 0.0
