"""Bad bags and bad outputs: one-line errors with exit code 2, and nothing already written is lost.

Truncated, foreign and non-bag inputs are refused by every verb that reads them; process refuses an existing
output unless --overwrite, and a process that fails half-way (a damaged message in the input) leaves neither a
half-written bag nor a replaced one behind.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ros_helpers import node_test_model
from std_msgs.msg import Header

from fusionvae_ros.bag.bag_files import OutputBag, ns_to_stamp, serialize_message, serialize_text
from fusionvae_ros.bag.make_bag import MakeBagOptions, make_bag
from fusionvae_ros.bag.process import node_settings, process_bag
from fusionvae_ros.image_codec import encode_image

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CAMERA = "/camera_0/image_raw"


def bag_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fusionvae_ros.bag", *args], capture_output=True, text=True, cwd=REPO, timeout=600
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(file.relative_to(path)): file.read_bytes() for file in sorted(path.rglob("*")) if file.is_file()}


@pytest.fixture(scope="module")
def good_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("errors") / "good"
    make_bag(path, MakeBagOptions(num_sets=6, num_cameras=1, seed=1))
    return path


@pytest.fixture(scope="module")
def truncated_bag(good_bag, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("errors") / "truncated"
    shutil.copytree(good_bag, path)
    storage = path / "good.mcap"
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])
    return path


@pytest.fixture(scope="module")
def foreign_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("errors") / "chatter"
    with OutputBag(path) as out:
        out.add_topic("/chatter", "std_msgs/msg/String")
        out.write("/chatter", 1, serialize_text("hello"))
    return path


@pytest.mark.parametrize("verb", ["score", "process", "replay"])
def test_truncated_bag_is_a_one_line_error(verb, good_bag, truncated_bag, tmp_path):
    args = {
        "score": ["score", str(good_bag), "--input", str(truncated_bag)],
        "process": ["process", str(truncated_bag), "-o", str(tmp_path / "out")],
        "replay": ["replay", str(truncated_bag)],
    }[verb]
    assert_one_line_error(bag_cli(*args), str(truncated_bag), "unreadable bag")
    assert not (tmp_path / "out").exists()


def test_foreign_and_missing_bags_are_one_line_errors(good_bag, foreign_bag, tmp_path):
    assert_one_line_error(
        bag_cli("process", str(foreign_bag), "-o", str(tmp_path / "out")),
        "/camera_0/image_raw",
        "is missing",
        "/chatter",
    )
    assert_one_line_error(bag_cli("score", str(foreign_bag), "--input", str(good_bag)), "/fused/hypotheses")
    assert_one_line_error(bag_cli("score", str(good_bag), "--input", str(foreign_bag)), "/fusionvae/set_info")
    not_a_bag = tmp_path / "photos"
    not_a_bag.mkdir()
    assert_one_line_error(bag_cli("replay", str(not_a_bag)), "not a rosbag2 bag")
    assert_one_line_error(bag_cli("score", str(tmp_path / "nothing"), "--input", str(good_bag)), "no such bag")
    assert not (tmp_path / "out").exists()


def test_bag_without_metadata_is_refused(good_bag, tmp_path):
    """A bag folder whose writer died before metadata.yaml (e.g. ros2 bag record killed) is named as such."""
    path = tmp_path / "killed"
    shutil.copytree(good_bag, path)
    (path / "metadata.yaml").unlink()
    assert_one_line_error(bag_cli("score", str(good_bag), "--input", str(path)), "not a rosbag2 bag")


def test_process_refuses_to_overwrite_and_keeps_the_existing_bag(good_bag, foreign_bag, tmp_path):
    existing = tmp_path / "existing"
    shutil.copytree(foreign_bag, existing)
    before = snapshot(existing)
    assert_one_line_error(bag_cli("process", str(good_bag), "-o", str(existing)), "exists already", "--overwrite")
    assert snapshot(existing) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"], "no temporary folder may be left behind"


def test_failing_process_leaves_no_half_written_bag(good_bag, foreign_bag, tmp_path):
    model = node_test_model()
    damaged = tmp_path / "damaged"
    with OutputBag(damaged) as out:  # three good frames, then a message that is not an Image at all
        out.add_topic(CAMERA, "sensor_msgs/msg/Image")
        pixels = np.zeros((32, 32, 1), np.uint8)
        for frame in range(3):
            stamp = 1_700_000_000_000_000_000 + frame * 100_000_000
            out.write(CAMERA, stamp, serialize_message(encode_image(pixels, Header(stamp=ns_to_stamp(stamp)))))
        out.write(CAMERA, 1_700_000_000_400_000_000, b"\x00\x01\x00\x00\xff\xff")
    process = ["process", str(damaged), "--camera-topics", CAMERA, "--model", str(model.path)]

    assert_one_line_error(bag_cli(*process, "-o", str(tmp_path / "fresh")), str(damaged), CAMERA)
    assert not (tmp_path / "fresh").exists()

    existing = tmp_path / "existing"
    shutil.copytree(foreign_bag, existing)
    before = snapshot(existing)
    assert_one_line_error(bag_cli(*process, "-o", str(existing), "--overwrite"), CAMERA)
    assert snapshot(existing) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged", "existing"]

    settings = node_settings(camera_topics=[CAMERA], model_path=str(model.path))
    process_bag(str(good_bag), str(existing), settings, overwrite=True)  # a run that completes does replace it
    assert snapshot(existing) != before and (existing / "metadata.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged", "existing"]
