"""Render throughput of the fusion_tabletop generator (pybullet TinyRenderer on this CPU), in scenes per second, and
of the fusion_tabletop_arm generator, in sequences and frames per second.

Part 1 renders training scenes in this process per image size and splits the time: TinyRenderer calls (the clean
target, the accepted views and the view draws rejected by the occlusion rules), scene building (URDF loading,
resting the objects), loading the occluders and the rest. Its baseline, measured in the same run, is one
TinyRenderer call: a scene costs that many render calls. Part 2 runs the render command's code path (compression
and atomic cache writes included) with 1 and more worker processes and prints the speed-up over 1 worker.
Part 3 converts the best rate into the time the cache of training/configs/fusion_tabletop.yaml takes to render.
Part 4 renders fusion_tabletop_arm sequences of each arm set (train/val: Panda and iiwa, test: xArm6) in this
process at the first size, splits the time the same way (loading: the arm; screening: the camera rays that vet a
motion before it is rendered; the rest is mostly inverse kinematics), and converts the rates into the time the cache
of training/configs/fusion_tabletop_arm.yaml takes to render on one core.

    python bench/render.py [--sizes 64 128] [--scenes 60] [--workers 1 2] [--sequences 20] [--frames 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from fusionvae_core.data.tabletop import generator
from fusionvae_core.data.tabletop.arm import ARM_SPLITS
from fusionvae_core.data.tabletop.cache import TABLETOP, Benchmark, render_cache
from fusionvae_core.data.tabletop.objects import object_set
from fusionvae_core.data.tabletop.renderer import TabletopRenderer
from fusionvae_core.data.tabletop.sequence import DEFAULT_FRAMES, ArmBenchmark

CONFIG_COUNTS = {"train": 20000, "val": 500, "test": 1000}  # the cache training/configs/fusion_tabletop.yaml reads
ARM_CONFIG_COUNTS = {"train": 2500, "val": 200, "test": 300}  # training/configs/fusion_tabletop_arm.yaml's cache


class Stopwatch:
    """Counts calls of wrapped methods and the seconds spent in them."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        """`method`, timed under `name`."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.calls[name] = self.calls.get(name, 0) + 1
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

        return timed


def timed_items(benchmark: Benchmark, split: str, size: int, count: int) -> tuple[float, float, Stopwatch]:
    """Render `count` items of `benchmark`'s `split` at `size` in this process after one warm-up item (meshes parsed
    once); the wall and CPU seconds they took and the time spent in the renderer's methods (render, build, add,
    first_hits)."""
    objects = object_set(split)
    watch = Stopwatch()
    with TabletopRenderer() as renderer:
        benchmark.render_item(renderer, objects, 0, split, count, size)
        for name in ("render", "build", "add", "first_hits"):
            setattr(renderer, name, watch.wrap(name, getattr(renderer, name)))
        start, cpu_start = time.perf_counter(), time.process_time()
        for index in range(count):
            benchmark.render_item(renderer, objects, 0, split, index, size)
        return time.perf_counter() - start, time.process_time() - cpu_start, watch


def in_process_row(size: int, scenes: int) -> str:
    """Render `scenes` training scenes at `size` in this process; one markdown row of rates and the time split."""
    total, _, watch = timed_items(TABLETOP, "train", size, scenes)
    render_ms = 1000 * watch.seconds["render"] / watch.calls["render"]
    per_scene_ms = 1000 * total / scenes
    return (
        f"| {size}x{size} | {scenes / total:.1f} | {per_scene_ms:.1f} | {render_ms:.2f} | "
        f"{watch.calls['render'] / scenes:.2f} | {per_scene_ms / render_ms:.1f} | "
        f"{watch.seconds['render'] / total:.0%} | {watch.seconds['build'] / total:.0%} | "
        f"{watch.seconds['add'] / total:.0%} |"
    )


def arm_row(split: str, size: int, sequences: int, frames: int) -> tuple[str, float, float]:
    """Render `sequences` fusion_tabletop_arm sequences of `split` in this process; a markdown row, the rate (per
    second of wall time) and the rate per CPU second (that of an idle core)."""
    total, cpu, watch = timed_items(ArmBenchmark(frames), split, size, sequences)
    rate = sequences / total
    shares = " | ".join(
        f"{watch.seconds.get(name, 0.0) / total:.0%}" for name in ("render", "build", "add", "first_hits")
    )
    return (
        f"| {split} | {', '.join(ARM_SPLITS[split])} | {rate:.2f} | {rate * frames:.1f} | {sequences / cpu:.2f} | "
        f"{1000 / rate:.0f} | {1000 * watch.seconds['render'] / watch.calls['render']:.1f} | "
        f"{watch.calls['render'] / sequences:.1f} | {shares} |",
        rate,
        sequences / cpu,
    )


def cache_rate(size: int, scenes: int, workers: int) -> float:
    """Scenes per second of `render_cache` (fresh cache in a temp folder) with `workers` processes."""
    with tempfile.TemporaryDirectory(prefix="fusionvae_render_bench_") as root:
        shard = max(1, scenes // (2 * workers))  # at least two shards per worker so all of them stay busy
        return render_cache(root, "train", scenes, image_size=size, shard_size=shard, workers=workers).scenes_per_second


def arm_section(size: int, sequences: int, frames: int) -> None:
    """Print part 4: fusion_tabletop_arm rates per arm set and the time the arm config's cache takes."""
    print(f"\n## 4. fusion_tabletop_arm, {frames} frames per sequence at {size}x{size}, one process\n")
    print(
        "| split | arms | sequences/s | frames/s | sequences per CPU second | ms/sequence | ms/render call "
        "| render calls/sequence | time rendering | time building workspaces | time loading the arm "
        "| time screening with rays |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rates: dict[str, tuple[float, float]] = {}
    for split in ("train", "test"):  # val shows the training arms
        row, wall_rate, cpu_rate = arm_row(split, size, sequences, frames)
        rates[split] = (wall_rate, cpu_rate)
        print(row, flush=True)
    print(f"\nThe cache of training/configs/fusion_tabletop_arm.yaml ({ARM_CONFIG_COUNTS}) on one core:")
    for kind, column in (("at this load (wall-clock rates)", 0), ("on an idle core (rates per CPU second)", 1)):
        minutes = {
            split: count / rates["test" if split == "test" else "train"][column] / 60
            for split, count in ARM_CONFIG_COUNTS.items()
        }
        parts = ", ".join(f"{split} {value:.0f} min" for split, value in minutes.items())
        print(f"- {kind}: {parts} (total {sum(minutes.values()):.0f} min)")


def main() -> None:
    """Parse arguments and print the three tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="square render sizes")
    parser.add_argument("--scenes", type=int, default=60, help="scenes per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts for part 2")
    parser.add_argument("--sequences", type=int, default=20, help="fusion_tabletop_arm sequences per arm set (part 4)")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames per sequence (part 4)")
    args = parser.parse_args()
    if min(args.scenes, args.sequences) < 1 or min(args.sizes) < 8 or min(args.workers) < 1 or args.frames < 3:
        parser.error("--scenes, --sequences and --workers must be >= 1, --sizes >= 8, --frames >= 3")
    print("# fusion_tabletop render benchmark (pybullet TinyRenderer, CPU)\n")
    print(f"machine: {os.cpu_count()} CPU cores; generator version {generator.GENERATOR_VERSION}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min; other processes share the cores above 0)\n")
    print("## 1. One process, split of the time per scene (baseline: one TinyRenderer call)\n")
    print(
        "| size | scenes/s | ms/scene | ms/render call | render calls/scene | scene cost in render calls "
        "| time rendering | time building scenes | time loading occluders |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        print(in_process_row(size, args.scenes), flush=True)
    size = args.sizes[0]
    print(f"\n## 2. Render command code path at {size}x{size} (npz compression and atomic writes included)\n")
    print("| workers | scenes/s | speed-up over 1 worker |")
    print("|---:|---:|---:|")
    rates = {}
    for workers in args.workers:
        rates[workers] = cache_rate(size, args.scenes, workers)
        baseline = rates.get(1)
        speedup = f"{rates[workers] / baseline:.2f}x" if baseline else "-"
        print(f"| {workers} | {rates[workers]:.1f} | {speedup} |", flush=True)
    best = max(rates.values())
    total = sum(CONFIG_COUNTS.values())
    print(f"\n## 3. The cache of training/configs/fusion_tabletop.yaml ({CONFIG_COUNTS}) at {size}x{size}\n")
    print(f"{total} scenes at {best:.1f} scenes/s: {total / best / 60:.0f} min")
    arm_section(size, args.sequences, args.frames)


if __name__ == "__main__":
    main()
