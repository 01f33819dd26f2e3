"""The one-camera arm demo (python -m fusionvae_ros.demo --scenes arm): a sequence bag of one fixed camera, then
rendered arm sequences at camera size through bag -> live node (view_source temporal) -> record -> score -> picture."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from ros_helpers import node_test_model, run_demo, unique_domain_id

from fusionvae_ros.bag.__main__ import main as bag_main
from fusionvae_ros.bag.bag_files import CAMERA_TOPICS, GROUND_TRUTH_TOPIC
from fusionvae_ros.bag.make_bag import CameraTiming, SequenceBagOptions, make_sequence_bag
from fusionvae_ros.bag.score import load_ground_truth, load_outputs

RATE_HZ, PAUSE_S = 5.0, 1.5


def sequence(frames: int, seed: int) -> SimpleNamespace:
    """A stand-in item: ``frames`` random RGB frames [T,3,H,W] in [0, 1] and a target."""
    generator = torch.Generator().manual_seed(seed)
    return SimpleNamespace(views=torch.rand(frames, 3, 6, 8, generator=generator), target=torch.zeros(3, 6, 8))


def test_a_sequence_bag_streams_each_sequence_then_pauses(tmp_path: Path) -> None:
    options = SequenceBagOptions(CameraTiming(rate_hz=RATE_HZ, drop_prob=0.0), pause_s=PAUSE_S)
    summary = make_sequence_bag(tmp_path / "bag", [sequence(3, 0), sequence(2, 1)], options)
    assert summary.set_ks == [1] * 5 and summary.counts[GROUND_TRUTH_TOPIC] == 5
    sets = load_ground_truth(str(tmp_path / "bag"), with_views=True)
    assert [truth.info.dataset_index for truth in sets] == [0, 0, 0, 1, 1]
    assert all(list(truth.info.view_stamps_ns) == [CAMERA_TOPICS[0]] for truth in sets)
    stamps = np.array([truth.info.view_stamps_ns[CAMERA_TOPICS[0]] for truth in sets])
    gaps_s = np.diff(stamps) / 1e9
    assert np.allclose(gaps_s[[0, 1, 3]], 1 / RATE_HZ, atol=0.005) and gaps_s[2] == pytest.approx(PAUSE_S, abs=0.005)
    expected = np.rint(sequence(3, 0).views[1].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
    np.testing.assert_array_equal(sets[1].views[CAMERA_TOPICS[0]], expected)


def test_process_fuses_a_one_camera_bag_with_the_temporal_options(tmp_path: Path, capsys) -> None:
    options = SequenceBagOptions(CameraTiming(rate_hz=RATE_HZ, drop_prob=0.0), pause_s=PAUSE_S)
    make_sequence_bag(tmp_path / "bag", [sequence(4, 0), sequence(2, 1)], options)
    model = str(node_test_model().path)
    common = [str(tmp_path / "bag"), "--model", model, "--view-source", "temporal", "--num-hypotheses", "1"]
    assert bag_main(["process", *common, "-o", str(tmp_path / "every"), "--fusion-rate", "0"]) == 0
    assert "6 fused sets (K=1: 2, K=2: 2, K=3: 2)" in capsys.readouterr().out
    assert bag_main(["process", *common, "-o", str(tmp_path / "two"), "--temporal-max-frames", "2"]) == 0
    assert "K=1: 2, K=2: 4" in capsys.readouterr().out, "at most two frames in the buffer"
    outputs, _ = load_outputs(str(tmp_path / "two"))
    assert all(output.set_info["stamps"].split(",")[0] == str(stamp) for stamp, output in outputs.items())


@pytest.mark.ros
def test_arm_demo_fuses_one_cameras_frames_with_the_temporal_source(tmp_path: Path) -> None:
    domain_id = unique_domain_id()
    options = {
        "--scenes": "arm",  # the shipped FusionTabletop model
        "--output-dir": tmp_path,
        "--num-sets": 2,
        "--frames": 3,
        "--num-hypotheses": 2,
        "--width": 96,
        "--height": 72,
        "--domain-id": domain_id,
    }
    done = run_demo(options, domain_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo: 6 of 6 frames fused" in done.stdout
    scores = json.loads((tmp_path / "score.json").read_text())
    assert {k: row["sets"] for k, row in scores.items()} == {"1": 2, "2": 2, "3": 2, "all": 6}
    assert set(scores["all"]) == {"sets", "MSE_min", "mean MSE", "newest frame", "frames' median"}
    picture = cv2.imread(str(tmp_path / "demo_grid.png"))
    assert picture is not None and picture.shape[0] > 2 * 96, "two rows: the last set of each sequence"
