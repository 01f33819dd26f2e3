"""Render a split of a rendered benchmark into its on-disk cache, with a progress bar and the render rate.

    python -m fusionvae_core.data.tabletop render --out data/fusion_tabletop --split train --count 20000
    python -m fusionvae_core.data.tabletop render --out data/fusion_tabletop --split test --count 1000
    python -m fusionvae_core.data.tabletop render --benchmark fusion_tabletop_arm --out data/fusion_tabletop_arm \
        --split train --count 2000 [--frames 8]

Rerunning the same command after an interruption resumes after the last finished shard; a cache made with
another seed, size, frame count or generator version is rendered anew; damaged shards are rendered again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tqdm import tqdm

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.tabletop.cache import (
    DEFAULT_SHARD_SIZE,
    TABLETOP,
    Benchmark,
    check_render_options,
    render_cache,
)
from fusionvae_core.data.tabletop.objects import SPLIT_FRACTIONS, load_pybullet
from fusionvae_core.data.tabletop.sequence import DEFAULT_FRAMES, ArmBenchmark

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
BENCHMARKS = (TABLETOP.name, ArmBenchmark.name)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (2 with one message for bad options or a missing renderer)."""
    parser = argparse.ArgumentParser(
        prog="python -m fusionvae_core.data.tabletop",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="render one split into the cache (resumable)")
    render.add_argument("--benchmark", choices=BENCHMARKS, default=TABLETOP.name, help="default: fusion_tabletop")
    render.add_argument("--out", required=True, help="cache root; the split goes to OUT/SPLIT")
    render.add_argument("--split", choices=tuple(SPLIT_FRACTIONS), required=True)
    render.add_argument("--count", type=int, required=True, help="number of items (scenes, sequences) in the split")
    render.add_argument("--seed", type=int, default=0, help="seed of the scenes (default 0)")
    render.add_argument("--image-size", type=int, default=64, help="square render size in pixels (default 64)")
    render.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help="items per cache file")
    render.add_argument("--workers", type=int, default=1, help="render processes (default 1)")
    render.add_argument("--frames", type=int, help=f"{ArmBenchmark.name}: frames per item (default {DEFAULT_FRAMES})")
    args = parser.parse_args(argv)
    try:
        benchmark = _benchmark(args.benchmark, args.frames)
        check_render_options(args.count, args.image_size, args.shard_size, args.workers)
        load_pybullet()
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    with tqdm(total=args.count, unit=benchmark.unit, desc=f"render {args.split}", file=sys.stderr) as bar:
        try:
            report = render_cache(
                args.out,
                args.split,
                args.count,
                seed=args.seed,
                image_size=args.image_size,
                shard_size=args.shard_size,
                workers=args.workers,
                progress=bar.update,
                benchmark=benchmark,
            )
        except KeyboardInterrupt:
            print("interrupted: finished shards are kept; rerun the same command to resume", file=sys.stderr)
            return EXIT_INTERRUPTED
    if report.discarded:
        print(f"the existing cache was made differently ({report.discarded}): rendered anew")
    unit = f"{benchmark.unit}s"
    rate = f"{report.scenes_per_second:.1f} {unit}/s with {args.workers} worker(s)" if report.rendered_items else "-"
    print(
        f"{args.out}/{args.split}: {report.count} {unit} at {args.image_size}x{args.image_size}; rendered "
        f"{report.rendered_items} in {report.seconds:.1f} s ({rate}); reused {report.reused_shards} finished shard(s)"
    )
    return 0


def _benchmark(name: str, frames: int | None) -> Benchmark:
    """The benchmark `name` with its options; DatasetError for an option it does not take."""
    if name == ArmBenchmark.name:
        return ArmBenchmark(DEFAULT_FRAMES if frames is None else frames)
    if frames is not None:
        raise DatasetError(f"--frames applies to {ArmBenchmark.name} only, not {name}")
    return TABLETOP
