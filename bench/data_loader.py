"""Own-data loader throughput (images/s) against what a training step consumes, at 64×64 RGB.

Writes camera-like 640×480 frames (smooth shapes plus sensor noise) as a folder of JPEG files and as a rosbag2
(MCAP) with a CompressedImage (JPEG) and a raw bgr8 Image topic, then times one epoch of `make_loader` (batches
of 32, shuffled, ellipse-window views, 2 workers) per source after a warm-up epoch. The training need is measured
in the same run: forward + backward + AdaMax images/s of the fusion_mnist and fusion_celeba presets resized to
64×64 RGB on this machine's CPU (bench/model_throughput.py measures the same on a GPU). Ratio > 1: the loader
outpaces training. The load average before and after is printed: on a shared machine both rates drop.

    python bench/data_loader.py [--frames 240] [--workers 2] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from model_throughput import train_steps

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.data import build_dataset, make_loader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))
from camera_bags import write_camera_bag  # the tests' bag writer: one writer in the repo

SIZE = 64
FRAME_SHAPE = (480, 640)
PRESET_BATCH = {"fusion_mnist": 32, "fusion_celeba": 8}


def camera_frames(count: int, seed: int = 0) -> list[np.ndarray]:
    """RGB uint8 frames [480, 640, 3]: a few filled shapes on a gradient, plus Gaussian sensor noise (std 6)."""
    rng = np.random.default_rng(seed)
    height, width = FRAME_SHAPE
    gradient = np.linspace(40, 200, width, dtype=np.float32)[None, :, None].repeat(height, 0).repeat(3, 2)
    frames = []
    for _ in range(count):
        frame = gradient.copy()
        for _ in range(6):
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            colour = tuple(float(c) for c in rng.integers(0, 256, 3))
            cv2.circle(frame, centre, int(rng.integers(20, 120)), colour, thickness=cv2.FILLED)
        frame += rng.normal(0.0, 6.0, frame.shape).astype(np.float32)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def loader_rate(name: str, root: Path, cache: Path, workers: int, batch: int, **options: object) -> float:
    """Images/s of one loader epoch over a dataset (after a warm-up epoch that starts the workers)."""
    dataset = build_dataset(
        name, "train", root, image_size=SIZE, channels=3, val_fraction=0.0, test_fraction=0.0,
        cache_dir=str(cache), **options,
    )  # fmt: skip
    loader = make_loader(dataset, batch_size=batch, shuffle=True, num_workers=workers, seed=0)
    for _ in loader:
        pass
    start = time.perf_counter()
    count = sum(int(batch_.target.shape[0]) for batch_ in loader)
    return count / (time.perf_counter() - start)


def training_rate(preset: str, batch: int) -> float:
    """Training images/s of `preset` at 64×64 RGB on the CPU (3 timed steps after 1 warm-up step)."""
    torch.manual_seed(0)
    model = FusionVAE(ModelConfig.preset(preset, image_size=SIZE, channels=3))
    optimizer = torch.optim.Adamax(model.parameters(), lr=1e-3)
    train_steps(model, optimizer, batch, 1, "cpu")
    return batch / train_steps(model, optimizer, batch, 3, "cpu")


def main() -> None:
    """Write the data, time the loaders and the training steps, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=240, help="frames per source (default 240)")
    parser.add_argument("--workers", type=int, default=2, help="loader worker processes (default 2)")
    parser.add_argument("--batch", type=int, default=32, help="loader batch size (default 32)")
    args = parser.parse_args()
    print("load average (1, 5, 15 min) at start: " + ", ".join(f"{load:.1f}" for load in os.getloadavg()))
    frames = camera_frames(args.frames)
    with tempfile.TemporaryDirectory(prefix="bench_data_loader_") as tmp:
        folder, cache = Path(tmp) / "images", Path(tmp) / "cache"
        folder.mkdir()
        for i, frame in enumerate(frames):
            cv2.imwrite(str(folder / f"{i:05d}.jpg"), frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        streams = {"/cam/image_raw/compressed": ("jpeg", frames), "/cam/image_raw": ("bgr8", frames)}
        bag = write_camera_bag(Path(tmp) / "bag", streams)
        sources = {
            "image_folder (JPEG files)": ("image_folder", folder, {}),
            "rosbag CompressedImage (JPEG)": ("rosbag", bag, {"topics": ["/cam/image_raw/compressed"]}),
            "rosbag Image (bgr8, raw)": ("rosbag", bag, {"topics": ["/cam/image_raw"]}),
        }
        rates = {
            label: loader_rate(name, root, cache, args.workers, args.batch, **options)
            for label, (name, root, options) in sources.items()
        }
    needs = {preset: training_rate(preset, batch) for preset, batch in PRESET_BATCH.items()}
    setup = f"{args.workers} workers, batch {args.batch}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    print(f"\n## Loader vs training at {SIZE}x{SIZE} RGB ({args.frames} frames of 640x480 per source, {setup})\n")
    print("| source | loader images/s | " + " | ".join(f"÷ {preset} training images/s" for preset in needs) + " |")
    print("|---|---:|" + "---:|" * len(needs))
    for label, rate in rates.items():
        ratios = " | ".join(f"{rate / need:.1f}x" for need in needs.values())
        print(f"| {label} | {rate:.0f} | {ratios} |")
    print("\nTraining need on this CPU: " + ", ".join(f"{p} {n:.1f} images/s" for p, n in needs.items()))
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{load:.1f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
