"""Training throughput (forward + backward + AdaMax step) and peak memory of the FusionVAE presets.

Prints markdown tables: parameter counts of every preset next to the paper's setup, then images/s and peak memory
per measured preset in both memory layouts, contiguous NCHW (the old layout) and channels_last (what training/train.py
uses), with their ratio from the same run. The layouts are timed in interleaved rounds (one K = 0..3 cycle each per
round), so load from other processes hits both alike. Runs on CUDA when available (paper batch sizes, halved on
out-of-memory), else on CPU with smaller default batches (printed). Peak memory (measured during the warm-up, one
layout at a time): torch.cuda.max_memory_allocated on GPU; on CPU the increase of the process RSS over its value
before the model was built (freed heap returned to the system first), sampled every 5 ms from /proc/self/statm.

    python bench/model_throughput.py [--presets fusion_mnist fusion_tabletop] [--batch N] [--rounds 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from fusionvae_core import FusionVAE, ModelConfig

PAPER = {  # paper table 6 + the authors' published NVAE settings (DESIGN.md §3)
    "fusion_mnist": {"batch": 800, "epochs": 400, "gpus": 2, "train_time": "4h"},
    "fusion_celeba": {"batch": 32, "epochs": 90, "gpus": 4, "train_time": "48h"},
    "fusion_tless": {"batch": 32, "epochs": 500, "gpus": 2, "train_time": "28h"},
    "fusion_tabletop": {"batch": None, "epochs": None, "gpus": None, "train_time": "-"},  # not in the paper
    "tiny": {"batch": None, "epochs": None, "gpus": None, "train_time": "-"},
}
CPU_BATCH = {"fusion_mnist": 64, "fusion_celeba": 8, "fusion_tless": 8, "fusion_tabletop": 16, "tiny": 64}


@dataclass
class Measurement:
    """Result of timing one preset."""

    preset: str
    layout: str
    batch: int
    steps: int
    seconds_per_step: float
    peak_bytes: int

    @property
    def images_per_second(self) -> float:
        """Training images processed per second."""
        return self.batch / self.seconds_per_step


def release_free_heap() -> None:
    """Return freed heap memory to the system (glibc malloc_trim), so that an RSS increase measured next counts
    what the next model allocates, not only what the previous one left unused."""
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


class RssSampler:
    """Background thread tracking the peak resident set size of this process (Linux /proc)."""

    def __init__(self, interval: float = 0.005) -> None:
        release_free_heap()
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = self.current()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current(self) -> int:
        """Resident set size in bytes right now."""
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(self.interval)

    @contextmanager
    def running(self) -> Iterator[RssSampler]:
        """Sample while the block runs."""
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self.current())


def train_steps(model: FusionVAE, optimizer: torch.optim.Optimizer, batch: int, steps: int, device: str) -> float:
    """Run `steps` training steps (K cycling 0..3 like training) and return the seconds they took."""
    cfg = model.config
    shape = (cfg.channels, cfg.image_size, cfg.image_size)
    target = torch.rand(batch, *shape, device=device)
    views = torch.rand(batch, cfg.max_views, *shape, device=device)
    start = time.perf_counter()
    for step in range(steps):
        out = model(views[:, : step % (cfg.max_views + 1)], target, progress=0.5)
        loss = out.loss + cfg.regularization_weight * model.regularization_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


@dataclass
class Trainer:
    """A model in one memory layout with its optimiser, ready for timed steps; `peak_bytes` from its warm-up."""

    model: FusionVAE
    optimizer: torch.optim.Optimizer
    peak_bytes: int


def warmed_up(preset: str, layout: str, batch: int, device: str) -> Trainer:
    """Build `preset` in `layout` and run one K = 0..3 cycle, measuring peak memory meanwhile."""
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    sampler = RssSampler()
    baseline = sampler.peak
    with sampler.running():
        model = FusionVAE(ModelConfig.preset(preset)).to(device, memory_format=LAYOUTS[layout])
        optimizer = torch.optim.Adamax(model.parameters(), lr=1e-2)
        train_steps(model, optimizer, batch, 4, device)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else sampler.peak - baseline
    return Trainer(model, optimizer, peak)


def measure(preset: str, batch: int, rounds: int, device: str) -> list[Measurement]:
    """Both layouts of `preset` at `batch`: warm-up and memory one at a time, then `rounds` interleaved timed
    K = 0..3 cycles (4 steps) per layout."""
    trainers = {layout: warmed_up(preset, layout, batch, device) for layout in LAYOUTS}
    seconds = dict.fromkeys(LAYOUTS, 0.0)
    for _ in range(rounds):
        for layout, trainer in trainers.items():
            seconds[layout] += train_steps(trainer.model, trainer.optimizer, batch, 4, device)
    steps = 4 * rounds
    return [
        Measurement(preset, layout, batch, steps, seconds[layout] / steps, trainers[layout].peak_bytes)
        for layout in LAYOUTS
    ]


def measure_fitting(preset: str, batch: int, rounds: int, device: str) -> list[Measurement]:
    """`measure`, halving the batch on CUDA out-of-memory until it fits."""
    while True:
        try:
            return measure(preset, batch, rounds, device)
        except torch.cuda.OutOfMemoryError:
            if batch == 1:
                raise
            print(f"{preset}: batch {batch} does not fit, retrying with {batch // 2}")
            batch //= 2


def parameter_table() -> str:
    """Markdown table of parameter counts and architecture sizes of all presets next to the paper's setup."""
    rows = [
        "| preset | parameters | latent groups (fine -> coarse) | latent units | z channels | base ch "
        "| pre/post blocks x cells | cells/group | likelihood | paper batch / epochs / GPUs / time |",
        "|---|---:|---|---:|---:|---:|---|---:|---|---|",
    ]
    for name, paper in PAPER.items():
        cfg = ModelConfig.preset(name)
        model = FusionVAE(cfg)
        layout = ", ".join(
            f"{cfg.groups_at_scale(s)} at {cfg.scale_resolution(s)}²" for s in reversed(range(cfg.num_scales))
        )
        units = sum(c * h * w for c, h, w in model.latent_shapes())
        rows.append(
            f"| {name} | {model.num_parameters():,} | {layout} | {units:,} | "
            f"{cfg.latent_channels} | {cfg.base_channels} | {cfg.num_preprocess_blocks}x{cfg.num_preprocess_cells} / "
            f"{cfg.num_postprocess_blocks}x{cfg.num_postprocess_cells} | {cfg.cells_per_group} | {cfg.likelihood} | "
            f"{paper['batch'] or '-'} / {paper['epochs'] or '-'} / {paper['gpus'] or '-'} / {paper['train_time']} |"
        )
    return "\n".join(rows)


def main() -> None:
    """Parse arguments, print the parameter table and the throughput table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--presets", nargs="+", default=["fusion_mnist", "fusion_tless", "fusion_tabletop"], choices=sorted(PAPER)
    )
    parser.add_argument("--batch", type=int, help="batch size for every preset (default: paper on GPU, small on CPU)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved timed rounds of 4 steps per layout")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.rounds < 1 or (args.batch is not None and args.batch < 1):
        parser.error("--rounds and --batch must be >= 1")
    torch.manual_seed(0)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"## FusionVAE presets (torch {torch.__version__})\n\n{parameter_table()}\n")
    memory = "torch.cuda.max_memory_allocated" if args.device == "cuda" else "RSS increase, sampled every 5 ms"
    print(
        f"## Training throughput on {device_name}: forward + backward + AdaMax, K cycling 0..3, "
        f"{args.rounds} interleaved rounds of 4 steps per layout\n"
    )
    print(
        f"| preset | layout | batch (paper) | ms/step | train images/s | vs contiguous | peak memory MiB ({memory}) |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for preset in args.presets:
        paper_batch = PAPER[preset]["batch"]
        default = paper_batch if args.device == "cuda" and paper_batch else CPU_BATCH[preset]
        results = measure_fitting(preset, args.batch or default, args.rounds, args.device)
        baseline = results[0]
        for result in results:
            print(
                f"| {preset} | {result.layout} | {result.batch} ({paper_batch or '-'}) | "
                f"{1000 * result.seconds_per_step:.0f} "
                f"| {result.images_per_second:.1f} | {result.images_per_second / baseline.images_per_second:.2f}x | "
                f"{result.peak_bytes / 2**20:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
