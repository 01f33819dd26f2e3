"""`make demo` end to end (python -m fusionvae_ros.demo): bag, live node, recording, score, picture.

Runs with the shipped model when present, else a randomly initialised tiny model (the pipeline, not the
quality, is under test here); a missing model must be reported clearly, not as a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from ros_helpers import node_test_model, run_demo, unique_domain_id

from fusionvae_ros.bag.grid import CELL, GAP, LABEL_HEIGHT, ROW_LABEL_WIDTH

REPO = Path(__file__).resolve().parents[1]
NUM_SETS = 12
NUM_HYPOTHESES = 3


def test_missing_model_is_reported_in_plain_words(tmp_path):
    missing = tmp_path / "no_such_model.onnx"
    done = subprocess.run(
        [sys.executable, "-m", "fusionvae_ros.demo", "--model", str(missing), "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 2, "a missing model is a usage error, as in every tool"
    assert str(missing) in done.stderr and "file not found" in done.stderr
    assert "models/fusion_mnist/model.onnx" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == [], "nothing is written without a model"


def test_domain_id_comes_from_the_environment_unless_given(monkeypatch, capsys):
    from fusionvae_ros.demo import parse_args

    monkeypatch.setenv("ROS_DOMAIN_ID", "42")
    assert parse_args([]).domain_id == 42
    assert parse_args(["--domain-id", "7"]).domain_id == 7
    monkeypatch.setenv("ROS_DOMAIN_ID", "robot")
    with pytest.raises(SystemExit) as exit_info:
        parse_args([])
    assert exit_info.value.code == 2 and "ROS_DOMAIN_ID: expected a ROS domain id 0..232, got 'robot'" in (
        capsys.readouterr().err
    )
    monkeypatch.delenv("ROS_DOMAIN_ID")
    assert 20 <= parse_args([]).domain_id <= 99


@pytest.mark.ros
def test_demo_fuses_every_set_scores_and_draws(tmp_path):
    model = node_test_model()
    domain_id = unique_domain_id()
    options = {
        "--model": model.path,
        "--output-dir": tmp_path,
        "--num-sets": NUM_SETS,
        "--num-hypotheses": NUM_HYPOTHESES,
        "--domain-id": domain_id,
    }
    done = run_demo(options, domain_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MSE_min" in done.stdout and "missing sets (no output): 0" in done.stdout
    report = json.loads((tmp_path / "score.json").read_text())
    assert report["per_k"]["all"]["fused"] == NUM_SETS and report["missing_set_ids"] == []
    assert report["latency_ms"]["max"] > 0

    picture = cv2.imread(str(tmp_path / "demo_grid.png"))
    rows = sum(min(2, report["per_k"][k]["fused"]) for k in report["per_k"] if k != "all")
    columns = 3 + NUM_HYPOTHESES + 3  # views, hypotheses, mean, std, target
    assert picture.shape == (
        LABEL_HEIGHT + rows * (CELL + GAP) + GAP,
        ROW_LABEL_WIDTH + columns * (CELL + GAP) + GAP,
        3,
    )
    assert {"input_bag", "fused_bag", "node.log", "record.log"} <= {p.name for p in tmp_path.iterdir()}
