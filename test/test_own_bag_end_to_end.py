"""End to end on CPU, as a user does it: record a bag → train with own_bag.yaml (tiny network, a few steps) →
evaluate on its test frames → export ONNX → `fusionvae_bag process` on the same bag → hypotheses at the trained
size and channel count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from camera_bags import smooth_frames, write_camera_bag
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore
from test_train_own_data import OWN_BAG, own_run

from fusionvae_core.training import CHECKPOINT_FILE
from fusionvae_ros.bag.__main__ import main as bag_main
from fusionvae_ros.bag.bag_files import CAMERA_TOPICS, HYPOTHESES_TOPIC, MEAN_TOPIC
from training.evaluate import main as evaluate_main
from training.export import main as export_main
from training.train import main as train_main

pytestmark = pytest.mark.slow

SIZE = 32  # trained size and channels differ from the tiny preset's 16x16 grey, so the sizing must flow through
SETS = 40  # 4 Hz: 10 s of bag, ten one-second split blocks
HYPOTHESES = 2


def test_bag_to_trained_model_to_fused_bag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = smooth_frames(SETS, 48, 64, seed=1)
    streams = {topic: ("bgr8", frames) for topic in CAMERA_TOPICS}
    bag = write_camera_bag(tmp_path / "recording", streams, period_ns=250_000_000)
    run_dir = tmp_path / "run"
    arguments = own_run(
        OWN_BAG,
        run_dir,
        bag,
        f"model.image_size={SIZE}",
        "model.channels=3",
        "data.frame_stride=2",
        "data.val_fraction=0.2",
        "data.test_fraction=0.2",
        "budget.max_steps=3",
    )
    assert train_main(arguments) == 0
    assert f"rosbag {bag}: 60 frames" in capsys.readouterr().out  # 3 cameras × 40 frames at stride 2
    scores = tmp_path / "scores"
    checkpoint = str(run_dir / CHECKPOINT_FILE)
    evaluation = ["--checkpoint", checkpoint, "--items", "4", "--nll-samples", "2", "--mse-samples", "2"]
    assert evaluate_main([*evaluation, "--out", str(scores)]) == 0  # data, split and size from the checkpoint
    assert (scores / "table.md").read_text().startswith("# Evaluation on rosbag / test (4 items")

    onnx = tmp_path / "model" / "model.onnx"
    onnx.parent.mkdir()  # export.py writes into an existing folder only (README: mkdir -p first)
    assert export_main(["--checkpoint", checkpoint, "--onnx", str(onnx)]) == 0
    assert f"{SIZE}x{SIZE}x3" in capsys.readouterr().out

    fused = tmp_path / "fused"
    command = ["process", str(bag), "-o", str(fused), "--model", str(onnx), "--num-hypotheses", str(HYPOTHESES)]
    assert bag_main(command) == 0, capsys.readouterr().err
    typestore = get_typestore(Stores.ROS2_KILTED)
    with Reader(fused) as reader:
        images = [
            (conn.topic, typestore.deserialize_cdr(data, conn.msgtype))
            for conn, _, data in reader.messages()
            if conn.topic in (HYPOTHESES_TOPIC, MEAN_TOPIC)
        ]
    hypotheses = [msg for topic, msg in images if topic == HYPOTHESES_TOPIC]
    assert len(hypotheses) == SETS * HYPOTHESES
    for _, msg in images:
        assert (msg.width, msg.height, msg.encoding) == (SIZE, SIZE, "rgb8")
    pixels = np.stack([msg.data.reshape(SIZE, SIZE, 3) for msg in hypotheses])
    assert pixels.std() > 0  # images, not a constant fill
