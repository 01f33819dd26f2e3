"""config/fastdds_large_images.xml: the Fast DDS profile for processes that publish camera-sized images.

Fast DDS reports a broken profile only in the log (XMLPARSER errors) and then carries on with its defaults, so the
tests check what the profile does: a process started with it maps the profile's 32 MiB shared-memory segment
(the file in /dev/shm) instead of the default half megabyte, and three 640x480 cameras replayed from a bag with
it (as the demo does) reach the node and all come back fused.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from ros_helpers import NodeProcess, node_test_model, unique_domain_id

from fusionvae_ros.bag.make_bag import CameraTiming, MakeBagOptions, make_bag
from fusionvae_ros.bag.score import load_outputs, score_bags
from fusionvae_ros.demo import fuse_live
from fusionvae_ros.package_files import DDS_PROFILE_VARIABLE, LARGE_IMAGE_DDS_PROFILE, shipped_file

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads /proc/PID/maps (Linux only)"),
]

PROFILE_SEGMENT_BYTES = 32 * 2**20  # <segment_size> in the profile
DEFAULT_SEGMENT_BYTES = 2**20  # Fast DDS's default segment is 0.5 MiB (plus bookkeeping)


def participant_segment_bytes(pid: int, timeout: float = 60.0) -> int:
    """Size of the shared-memory segment the process ``pid`` mapped for its DDS participant (its port queues,
    /dev/shm/fastdds_portNNNN, are not counted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/maps") as maps:
            files = {line.split()[-1] for line in maps if "/dev/shm/fastdds_" in line}
        segments = [path for path in files if not Path(path).name.startswith("fastdds_port")]
        if segments:
            return max(os.stat(path).st_size for path in segments)
        time.sleep(0.1)
    pytest.fail(f"process {pid} mapped no Fast DDS segment within {timeout:.0f} s")


@pytest.mark.parametrize("profile", ["shipped", "none"])
def test_a_process_started_with_the_profile_maps_its_large_segment(profile, tmp_path, monkeypatch):
    model = node_test_model()
    if profile == "shipped":
        monkeypatch.setenv(DDS_PROFILE_VARIABLE, str(shipped_file(LARGE_IMAGE_DDS_PROFILE)))
    else:
        monkeypatch.delenv(DDS_PROFILE_VARIABLE, raising=False)
    node = NodeProcess({"model_path": str(model.path)}, unique_domain_id(), tmp_path)
    try:
        size = participant_segment_bytes(node.process.pid)
        assert node.alive(), node.output()
    finally:
        node.stop()
    assert "XMLPARSER" not in node.output(), "Fast DDS could not parse the profile"
    if profile == "shipped":
        assert size >= PROFILE_SEGMENT_BYTES, f"{size} bytes: the profile was not applied"
    else:
        assert size < DEFAULT_SEGMENT_BYTES, f"{size} bytes: the control run did not use Fast DDS's defaults"


def test_640x480_cameras_from_a_bag_are_all_fused(tmp_path):
    model = node_test_model()
    input_bag, fused_bag = tmp_path / "input", tmp_path / "fused"
    num_sets = 20
    options = MakeBagOptions(num_sets=num_sets, seed=5, width=640, height=480, timing=CameraTiming(rate_hz=10.0))
    make_bag(input_bag, options)
    fuse_live(input_bag, fused_bag, model.path, 3, 0, unique_domain_id(), tmp_path)
    node_log = (tmp_path / "node.log").read_text()
    report = score_bags(str(fused_bag), str(input_bag))
    assert report.missing_set_ids == [], node_log[-3000:]
    assert report.per_k["all"]["fused"] == num_sets
    outputs, _ = load_outputs(str(fused_bag))
    model_size = (model.image_size, model.image_size)  # outputs come at the model's resolution
    for output in outputs.values():
        assert [image.shape[:2] for image in output.hypotheses] == [model_size] * 3
        assert output.mean.shape[:2] == output.uncertainty.shape[:2] == model_size
