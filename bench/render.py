"""Render throughput of the fusion_tabletop generator (pybullet TinyRenderer on this CPU), in scenes per second.

Part 1 renders training scenes in this process per image size and splits the time: TinyRenderer calls (the clean
target, the accepted views and the view draws rejected by the occlusion rules), scene building (URDF loading,
resting the objects), loading the occluders and the rest. Its baseline, measured in the same run, is one
TinyRenderer call: a scene costs that many render calls. Part 2 runs the render command's code path (compression
and atomic cache writes included) with 1 and more worker processes and prints the speed-up over 1 worker.
Part 3 converts the best rate into the time the cache of training/configs/fusion_tabletop.yaml takes to render.

    python bench/render.py [--sizes 64 128] [--scenes 60] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from fusionvae_core.data.tabletop import generator
from fusionvae_core.data.tabletop.cache import render_cache
from fusionvae_core.data.tabletop.objects import object_set
from fusionvae_core.data.tabletop.renderer import TabletopRenderer

CONFIG_COUNTS = {"train": 20000, "val": 500, "test": 1000}  # the cache training/configs/fusion_tabletop.yaml reads


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


def in_process_row(size: int, scenes: int) -> str:
    """Render `scenes` training scenes at `size` in this process; one markdown row of rates and the time split."""
    objects = object_set("train")
    watch = Stopwatch()
    with TabletopRenderer() as renderer:
        generator.render_item(renderer, objects, 0, "train", scenes, size)  # warm-up: meshes parsed once
        renderer.render = watch.wrap("render", renderer.render)  # type: ignore[method-assign]
        renderer.build = watch.wrap("build", renderer.build)  # type: ignore[method-assign]
        renderer.add = watch.wrap("occluders", renderer.add)  # type: ignore[method-assign]
        start = time.perf_counter()
        for index in range(scenes):
            generator.render_item(renderer, objects, 0, "train", index, size)
        total = time.perf_counter() - start
    render_ms = 1000 * watch.seconds["render"] / watch.calls["render"]
    per_scene_ms = 1000 * total / scenes
    return (
        f"| {size}x{size} | {scenes / total:.1f} | {per_scene_ms:.1f} | {render_ms:.2f} | "
        f"{watch.calls['render'] / scenes:.2f} | {per_scene_ms / render_ms:.1f} | "
        f"{watch.seconds['render'] / total:.0%} | {watch.seconds['build'] / total:.0%} | "
        f"{watch.seconds['occluders'] / total:.0%} |"
    )


def cache_rate(size: int, scenes: int, workers: int) -> float:
    """Scenes per second of `render_cache` (fresh cache in a temp folder) with `workers` processes."""
    with tempfile.TemporaryDirectory(prefix="fusionvae_render_bench_") as root:
        shard = max(1, scenes // (2 * workers))  # at least two shards per worker so all of them stay busy
        return render_cache(root, "train", scenes, image_size=size, shard_size=shard, workers=workers).scenes_per_second


def main() -> None:
    """Parse arguments and print the three tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128], help="square render sizes")
    parser.add_argument("--scenes", type=int, default=60, help="scenes per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts for part 2")
    args = parser.parse_args()
    if args.scenes < 1 or min(args.sizes) < 8 or min(args.workers) < 1:
        parser.error("--scenes and --workers must be >= 1, --sizes >= 8")
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


if __name__ == "__main__":
    main()
