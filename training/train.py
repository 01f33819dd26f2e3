"""Train FusionVAE or a baseline from a YAML config, on CPU, one GPU or several processes under torchrun.

    python training/train.py --config training/configs/tiny.yaml --run-dir runs/tiny
    python training/train.py --config training/configs/fusion_mnist.yaml --run-dir runs/mnist \
        --set budget.max_steps=2000                                  # replaces the config's epochs
    python training/train.py --run-dir runs/mnist --resume             # continue exactly where it stopped
    torchrun --nproc_per_node=2 training/train.py --config ... --run-dir ...   # DDP (gloo on CPU, nccl on GPU)

The run folder receives checkpoints/last.pt (written atomically), metrics.jsonl, TensorBoard logs and config.yaml.
Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes a checkpoint and exits with status 130 / 143.
Configuration errors, unusable checkpoints, data roots, run folders and devices print one line and exit with
status 2, as does a run that stalls (optim.max_consecutive_skips updates in a row skipped by the guard: the line
says which setting to change); a run folder this command created is removed again when the run fails before its
first checkpoint.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import yaml

from fusionvae_core.atomic_file import remove_stale_temporaries
from fusionvae_core.checkpoint import CheckpointError, load_checkpoint
from fusionvae_core.data import DatasetError
from fusionvae_core.training import CHECKPOINT_FILE, ConfigError, RunOptions, TrainConfig, load_config, run_training
from fusionvae_core.training.config import config_differences
from fusionvae_core.training.distributed import DeviceError

CONFIG_COPY = "config.yaml"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="YAML config (training/configs/*.yaml); optional with --resume")
    parser.add_argument("--run-dir", type=Path, required=True, help="folder for checkpoints and logs")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.pt")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value (repeatable), e.g. --set budget.max_steps=100",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: CUDA when available, else CPU")
    parser.add_argument("--data-root", help="dataset folder (overrides data.data_root)")
    parser.add_argument(
        "--stop-at-step", type=int, help="checkpoint and exit after this many steps (the schedule keeps its length)"
    )
    args = parser.parse_args(argv)
    if args.config is None and not args.resume:
        parser.error("--config is required unless --resume continues an existing run")
    if args.data_root is not None:
        args.overrides.append(f"data.data_root={args.data_root}")
    return args


def resolve_config(args: argparse.Namespace) -> tuple[TrainConfig, dict | None]:
    """The config to run and, with --resume, the loaded checkpoint (whose stored config wins over --config).

    A new run refuses a folder that already holds a checkpoint, so nothing is overwritten by mistake.
    """
    checkpoint_path = args.run_dir / CHECKPOINT_FILE
    if not args.resume:
        if checkpoint_path.exists():
            raise ConfigError(f"{checkpoint_path} already exists: continue it with --resume or choose a new --run-dir")
        return load_config(args.config, args.overrides), None
    remove_stale_temporaries(checkpoint_path)  # left by a kill during a checkpoint write
    payload = load_checkpoint(checkpoint_path)
    train_state = payload.get("train_state")
    if not isinstance(train_state, dict) or not isinstance(train_state.get("config"), dict):
        raise CheckpointError(
            f"checkpoint {checkpoint_path}: holds no training state (an exported model?), so it cannot be resumed"
        )
    stored = TrainConfig.from_dict(train_state["config"], source=str(checkpoint_path))
    if args.config is not None:
        requested = load_config(args.config, args.overrides)
        changed = config_differences(stored, requested)
        if changed:
            raise ConfigError(
                f"--resume: {args.config} differs from the run's stored config in {', '.join(changed)}; "
                "resume without --config or start a new run folder"
            )
    elif args.overrides:
        raise ConfigError("--resume continues the stored config; --set/--data-root need a new run folder")
    return stored, payload


def prepare_run_dir(run_dir: Path, config: TrainConfig) -> None:
    """Create the run folder (and parents) and store the config in it; ConfigError if it cannot be written."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / CONFIG_COPY).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    except OSError as error:
        where = error.filename or run_dir
        raise ConfigError(f"--run-dir {run_dir}: cannot write {where} ({error.strerror or error})") from None


def main(argv: list[str] | None = None) -> int:
    """Run training; returns the process exit status."""
    args = parse_args(argv)
    first_rank = os.environ.get("RANK", "0") == "0"
    created = first_rank and not args.run_dir.exists()
    try:
        config, resume = resolve_config(args)
        if first_rank:
            prepare_run_dir(args.run_dir, config)
        result = run_training(config, RunOptions(args.run_dir, args.device, args.stop_at_step), resume)
    except (ConfigError, CheckpointError, DatasetError, DeviceError) as error:
        if created and not (args.run_dir / CHECKPOINT_FILE).exists():  # a failed start leaves no empty run folder
            shutil.rmtree(args.run_dir, ignore_errors=True)
        print(f"train.py: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    if result.problem is not None:
        if first_rank:
            print(f"train.py: error: stopped at step {result.step}: {result.problem}", file=sys.stderr)
        return 2
    if first_rank:
        print(
            f"{result.status} at step {result.step}/{result.total_steps} ({result.skipped_steps} skipped); "
            f"checkpoint {result.checkpoint}"
        )
    if result.status == "interrupted" and result.signal_number is not None:
        return 128 + result.signal_number
    return 0


if __name__ == "__main__":
    sys.exit(main())
