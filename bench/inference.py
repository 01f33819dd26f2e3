"""Inference latency and throughput per backend, with eager PyTorch measured in the same run as the baseline.

CPU (always): one view set (batch 1) of K = 3 views, 3 hypotheses, `backend.infer` end to end (noise, model,
post-processing); eager torch, torch.compile (unless --no-compile: compiling takes minutes on 2 cores) and ONNX
Runtime on the same thread count (default 2), plus ONNX Runtime on 1 thread for reference. Targets for
fusion_mnist: ONNX Runtime >= 2x eager torch and p50 <= 5 ms. Backends are timed in interleaved rounds, so load
from other processes hits all of them alike. GPU (when torch sees one): torch CUDA eager vs torch.compile (default
mode, and "reduce-overhead" = CUDA graphs), TensorRT and ONNX Runtime CUDA where installed, batch scaling up to 64.

Models: the shipped models/fusion_mnist (grey 32x32) and models/fusion_tabletop (RGB 64x64), each with its
checkpoint; a model not shipped yet is replaced by a randomly initialised one of its preset (saved and exported to a
temporary folder); the output says which. A closing table puts the p50 per backend of the models side by side.
Nothing is written into the repository.

    python bench/inference.py [--models fusion_mnist fusion_tabletop] [--threads 2] [--rounds 20] [--per-round 10]
    python bench/inference.py --onnx PATH --checkpoint PATH            # any exported model instead
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.checkpoint import save_checkpoint
from fusionvae_core.export import export_checkpoint
from fusionvae_core.inference import BackendError, InferenceBackend, load_backend

REPO = Path(__file__).resolve().parents[1]
SHIPPED_MODELS = ("fusion_mnist", "fusion_tabletop")  # folder names under models/ and their presets
TARGET_MODEL = "fusion_mnist"  # the latency targets are set for the digits model
VIEWS, SAMPLES = 3, 3
SPEEDUP_TARGET, P50_TARGET_MS = 2.0, 5.0
GPU_BATCHES = (1, 4, 16, 64)


@dataclass
class Timing:
    """Latencies (s) of repeated `infer` calls on one batch size, and the process CPU time each call used."""

    name: str
    batch: int
    seconds: list[float]
    cpu_seconds: list[float]

    def percentile_ms(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        return float(np.percentile(self.seconds, q) * 1e3)

    def cpu_ms(self) -> float:
        """Median process CPU time per call in ms (all threads): the latency an idle core would give 1 thread."""
        return float(np.median(self.cpu_seconds) * 1e3)

    @property
    def sets_per_second(self) -> float:
        """View sets fused per second (batch / mean latency)."""
        return self.batch * len(self.seconds) / sum(self.seconds)


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(SHIPPED_MODELS), choices=SHIPPED_MODELS)
    parser.add_argument("--onnx", type=Path, help="an exported model to measure instead of the shipped ones")
    parser.add_argument("--checkpoint", type=Path, help="the checkpoint --onnx was exported from")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch and ONNX Runtime")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds over the backends")
    parser.add_argument("--per-round", type=int, default=10, help="timed calls per backend and round")
    parser.add_argument("--no-compile", action="store_true", help="leave out torch.compile on the CPU")
    args = parser.parse_args()
    if (args.onnx is None) != (args.checkpoint is None):
        parser.error("--onnx and --checkpoint go together")
    return args


def model_files(name: str, workdir: Path) -> tuple[Path, Path, str]:
    """(onnx, checkpoint, description) of shipped model `name`, or of a random export of its preset if not shipped."""
    onnx_path, checkpoint = REPO / "models" / name / "model.onnx", REPO / "models" / name / "checkpoint.pt"
    if onnx_path.is_file() and checkpoint.is_file():
        return onnx_path, checkpoint, f"shipped model {onnx_path} (checkpoint {checkpoint})"
    torch.manual_seed(0)
    cfg = ModelConfig.preset(name)
    model = FusionVAE(cfg).eval()
    random_checkpoint = save_checkpoint(
        workdir / f"{name}.pt", model_kind="fusionvae", model_config=cfg.to_dict(), state_dict=model.state_dict()
    )
    export_checkpoint(random_checkpoint, workdir / f"{name}.onnx")
    missing = onnx_path if not onnx_path.is_file() else checkpoint
    return workdir / f"{name}.onnx", random_checkpoint, f"randomly initialised {name} ({missing} not found)"


def bench_views(backend: InferenceBackend, batch: int) -> np.ndarray:
    """Random uint8 views [batch, VIEWS, H, W, C] for `backend`'s model."""
    shape = (batch, VIEWS, backend.image_size, backend.image_size, backend.channels)
    return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)


def warm_up(backends: dict[str, InferenceBackend], batch: int, calls: int = 5) -> dict[str, InferenceBackend]:
    """Run each backend `calls` times (compiles, allocates); a backend that fails is dropped with the reason printed."""
    ready = {}
    for name, backend in backends.items():
        views = bench_views(backend, batch)
        start = time.perf_counter()
        try:
            backend.infer(views, num_samples=SAMPLES, seed=0)
        except Exception as error:  # torch.compile raises many types when a toolchain is missing
            print(f"skipping {name}: its first call failed: {type(error).__name__}: {str(error).splitlines()[0]}")
            continue
        first_call = time.perf_counter() - start
        if first_call > 1.0:
            print(f"{name}: first call (batch {batch}) took {first_call:.1f} s")
        for seed in range(1, calls):
            backend.infer(views, num_samples=SAMPLES, seed=seed)
        ready[name] = backend
    return ready


def time_interleaved(backends: dict[str, InferenceBackend], batch: int, rounds: int, per_round: int) -> list[Timing]:
    """Time `infer` for every (warmed-up) backend in alternating rounds (fair under background load)."""
    views = bench_views(next(iter(backends.values())), batch)
    timings = {name: Timing(name, batch, [], []) for name in backends}
    for round_index in range(rounds):
        for name, backend in backends.items():
            for call in range(per_round):
                start, start_cpu = time.perf_counter(), time.process_time()
                backend.infer(views, num_samples=SAMPLES, seed=round_index * per_round + call)
                timings[name].seconds.append(time.perf_counter() - start)
                timings[name].cpu_seconds.append(time.process_time() - start_cpu)
    return list(timings.values())


def print_table(timings: list[Timing], baseline: Timing) -> None:
    """Markdown table of the timings with the p50 speed-up over `baseline`."""
    print(
        "| backend | batch | p50 ms | p99 ms | min ms | CPU ms/call | view sets/s | hypotheses/s | "
        "p50 speed-up vs eager |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for timing in timings:
        speedup = baseline.percentile_ms(50) / timing.percentile_ms(50)
        print(
            f"| {timing.name} | {timing.batch} | {timing.percentile_ms(50):.2f} | {timing.percentile_ms(99):.2f} | "
            f"{min(timing.seconds) * 1e3:.2f} | {timing.cpu_ms():.2f} | {timing.sets_per_second:.1f} | "
            f"{timing.sets_per_second * SAMPLES:.1f} | {speedup:.2f}x |"
        )


def verdict(passed: bool) -> str:
    """PASS or MISS."""
    return "PASS" if passed else "MISS"


def cpu_section(onnx_path: Path, checkpoint: Path, args: argparse.Namespace, targets: bool) -> dict[str, Timing]:
    """Eager torch vs torch.compile and ONNX Runtime on `args.threads` CPU threads, batch 1, against the targets
    (`targets`: the model they are set for); returns the timings by backend."""
    torch.set_num_threads(args.threads)
    eager, ort = "torch eager (cpu)", f"onnxruntime (cpu, {args.threads} threads)"
    backends: dict[str, InferenceBackend] = {
        eager: load_backend(checkpoint, backend="torch", device="cpu"),
        ort: load_backend(onnx_path, backend="onnxruntime", intra_op_threads=args.threads),
        f"onnxruntime (cpu, {args.threads} threads, spinning)": load_backend(
            onnx_path, backend="onnxruntime", intra_op_threads=args.threads, allow_spinning=True
        ),
        "onnxruntime (cpu, 1 thread)": load_backend(onnx_path, backend="onnxruntime", intra_op_threads=1),
    }
    if not args.no_compile:
        backends["torch.compile (cpu)"] = load_backend(
            checkpoint, backend="torch", device="cpu", compile_mode="default"
        )
    shape = f"{backends[eager].image_size}x{backends[eager].image_size}x{backends[eager].channels}"
    print(f"\n## CPU, {args.threads} threads, {shape}: batch 1, K = {VIEWS} views, {SAMPLES} hypotheses\n")
    timings = {timing.name: timing for timing in time_interleaved(warm_up(backends, 1), 1, args.rounds, args.per_round)}
    print_table(list(timings.values()), timings[eager])
    print("\nCPU ms/call: median process CPU time per call, summed over threads (not inflated by waiting for a core).")
    if targets:
        print_verdicts(timings[eager], timings[ort])
    return timings


def print_verdicts(eager: Timing, ort: Timing) -> None:
    """The fusion_mnist targets: ONNX Runtime >= SPEEDUP_TARGET x eager torch and p50 <= P50_TARGET_MS."""
    speedup = eager.percentile_ms(50) / ort.percentile_ms(50)
    print(
        f"\nONNX Runtime p50 speed-up over eager torch: {speedup:.2f}x (target >= {SPEEDUP_TARGET:g}x): "
        f"{verdict(speedup >= SPEEDUP_TARGET)}"
    )
    print(
        f"ONNX Runtime p50 latency: {ort.percentile_ms(50):.2f} ms (target <= {P50_TARGET_MS:g} ms): "
        f"{verdict(ort.percentile_ms(50) <= P50_TARGET_MS)}"
    )


def print_side_by_side(results: dict[str, dict[str, Timing]]) -> None:
    """One row per CPU backend, one p50 column per model (models measured in this run)."""
    names = list(results)
    print(f"\n## CPU p50 ms per backend, batch 1, K = {VIEWS}, {SAMPLES} hypotheses\n")
    print("| backend | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for backend in results[names[0]]:
        cells = [f"{results[n][backend].percentile_ms(50):.2f}" if backend in results[n] else "-" for n in names]
        print(f"| {backend} | " + " | ".join(cells) + " |")


def gpu_section(onnx_path: Path, checkpoint: Path) -> None:
    """torch CUDA eager vs compiled variants (and TensorRT / ORT CUDA where available), batch scaling."""
    factories: dict[str, Callable[[], InferenceBackend]] = {
        "torch eager (cuda)": lambda: load_backend(checkpoint, backend="torch", device="cuda"),
        "torch.compile (cuda)": lambda: load_backend(
            checkpoint, backend="torch", device="cuda", compile_mode="default"
        ),
        "torch.compile reduce-overhead / CUDA graphs": lambda: load_backend(
            checkpoint, backend="torch", device="cuda", compile_mode="reduce-overhead"
        ),
    }
    if importlib.util.find_spec("tensorrt") is not None:
        for fp16 in (False, True):
            factories[f"tensorrt ({'fp16' if fp16 else 'fp32'})"] = functools.partial(
                load_backend,
                onnx_path,
                backend="tensorrt",
                device="cuda",
                fp16=fp16,
                max_batch=max(GPU_BATCHES),
                max_samples=SAMPLES,
            )
    backends: dict[str, InferenceBackend] = {}
    for name, factory in factories.items():
        try:
            backends[name] = factory()
        except BackendError as error:
            print(f"skipping {name}: {error}")
    try:
        backends["onnxruntime (cuda)"] = load_backend(onnx_path, backend="onnxruntime", device="cuda")
    except BackendError as error:
        print(f"skipping onnxruntime (cuda): {error}")
    print(f"\n## GPU ({torch.cuda.get_device_name()}): K = {VIEWS} views, {SAMPLES} hypotheses, batch scaling\n")
    for batch in GPU_BATCHES:
        timings = time_interleaved(warm_up(backends, batch), batch, rounds=5, per_round=20)
        print_table(timings, timings[0])
        print()


def load_average(when: str) -> str:
    """The 1-minute load average as a line (above 0: other processes share the cores and inflate the latencies)."""
    return f"load average at {when}: {os.getloadavg()[0]:.2f} (1 min; other processes share the cores above 0)"


def ort_version() -> str:
    """The installed onnxruntime version."""
    import onnxruntime

    return str(onnxruntime.__version__)


def main() -> None:
    """Per model: the CPU section, and the GPU section where torch sees CUDA; then the side-by-side CPU table."""
    args = parse_args()
    print("# Inference benchmark\n")
    print(f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, onnxruntime {ort_version()}")
    print(load_average("start"))
    results: dict[str, dict[str, Timing]] = {}
    with tempfile.TemporaryDirectory(prefix="fusionvae_bench_") as workdir:
        if args.onnx:
            models = [("custom", (args.onnx, args.checkpoint, f"{args.onnx} ({args.checkpoint})"))]
        else:
            models = [(name, model_files(name, Path(workdir))) for name in args.models]
        for name, (onnx_path, checkpoint, description) in models:
            print(f"\n# {name}: {description}")
            results[name] = cpu_section(onnx_path, checkpoint, args, targets=name == TARGET_MODEL)
            print(load_average(f"end of the CPU section of {name}"))
            if torch.cuda.is_available():
                gpu_section(onnx_path, checkpoint)
            else:
                print("\nno CUDA GPU visible to torch: GPU section skipped")
    if len(results) > 1:
        print_side_by_side(results)


if __name__ == "__main__":
    main()
