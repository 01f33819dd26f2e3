"""The colour demo (python -m fusionvae_ros.demo --model tabletop / --scenes tabletop): rendered test scenes at
camera size through bag -> live node (centre crop + resize) -> record -> score -> picture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inference_helpers import exported_model
from ros_helpers import run_demo, unique_domain_id

from fusionvae_core.data.tabletop.camera import CameraScenes
from fusionvae_ros import demo
from fusionvae_ros.bag.bag_files import GROUND_TRUTH_TOPIC
from fusionvae_ros.bag.make_bag import MakeBagOptions, make_bag
from fusionvae_ros.bag.score import load_ground_truth

WIDTH, HEIGHT = 96, 72


def test_missing_tabletop_model_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the shipped model is in the tree, so point the demo at a model folder that does not exist
    monkeypatch.setattr(demo, "TABLETOP_MODEL", Path("models") / "not_shipped" / "model.onnx")
    status = demo.main(["--model", "tabletop", "--output-dir", str(tmp_path / "out")])
    assert status == 2, "a missing model is a usage error, as in every tool"
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no FusionTabletop model at" in error
    assert "models/not_shipped/model.onnx (file not found)" in error and not (tmp_path / "out").exists()


def test_camera_scenes_make_a_bag_of_camera_size_colour_views(tmp_path: Path) -> None:
    scenes = CameraScenes("test", 3, WIDTH, HEIGHT)
    assert scenes[0].views.shape == (3, 3, HEIGHT, WIDTH) and scenes[0].target.shape == (3, HEIGHT, WIDTH)
    summary = make_bag(tmp_path / "bag", MakeBagOptions("fusion_tabletop", num_sets=3), items=scenes)
    assert summary.counts[GROUND_TRUTH_TOPIC] == 3
    sets = load_ground_truth(str(tmp_path / "bag"), with_views=True)
    for truth in sets:
        assert truth.target.shape == (HEIGHT, WIDTH, 3)
        assert all(view.shape == (HEIGHT, WIDTH, 3) for view in truth.views.values())


@pytest.mark.ros
def test_tabletop_demo_fuses_rendered_scenes_in_colour(tmp_path: Path) -> None:
    model = exported_model("fusion_tabletop").onnx  # random weights: the plumbing, not the quality, is under test
    domain_id = unique_domain_id()
    options = {
        "--scenes": "tabletop",
        "--model": model,
        "--output-dir": tmp_path,
        "--num-sets": 6,
        "--num-hypotheses": 2,
        "--width": WIDTH,
        "--height": HEIGHT,
        "--domain-id": domain_id,
    }
    done = run_demo(options, domain_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rendering 6 FusionTabletop test scenes at {WIDTH}x{HEIGHT}" in done.stdout
    report = json.loads((tmp_path / "score.json").read_text())
    assert report["per_k"]["all"]["fused"] == 6 and report["missing_set_ids"] == []
    assert (tmp_path / "demo_grid.png").is_file()
