"""The training loop shared by FusionVAE and the baselines.

AdaMax (with NVAE's weight decay) with linear warm-up and cosine decay, channels_last weights, β warm-up / KL
balancing through `progress`, one random K per batch, bf16 autocast on CUDA, optional torch.compile, DDP across
torchrun processes, the skip guard, atomic checkpoints with everything needed to continue bit-exactly (weights,
optimizer, step, skip count, every rank's RNG states; the data order is a function of the step), and a clean stop
on SIGINT/SIGTERM.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fusionvae_core.checkpoint import save_checkpoint
from fusionvae_core.data import FusionBatch, build_dataset, make_loader
from fusionvae_core.evaluation import compose_grid
from fusionvae_core.model import FusionOutput
from fusionvae_core.model.cells import to_channels_last
from fusionvae_core.model.visibility import visibility_loss
from fusionvae_core.training import distributed
from fusionvae_core.training.batches import TrainBatches
from fusionvae_core.training.config import ConfigError, TrainConfig
from fusionvae_core.training.distributed import DistributedContext
from fusionvae_core.training.environment import describe_hardware
from fusionvae_core.training.guards import BufferSnapshot, SkipGuard
from fusionvae_core.training.logging import RunLogger
from fusionvae_core.training.models import TrainableModel, build_model, initialise_from, model_from_checkpoint
from fusionvae_core.training.rng_state import capture_rng_state, restore_rng_state
from fusionvae_core.training.schedule import learning_rate, training_progress
from fusionvae_core.training.signals import StopRequest

CHECKPOINT_FILE = Path("checkpoints") / "last.pt"
GRID_SAMPLES = 3


@dataclass(frozen=True)
class RunOptions:
    """Per-invocation settings that are not part of the recipe: output folder, device, early stop."""

    run_dir: Path
    device: str | None = None
    stop_at_step: int | None = None  # checkpoint and exit once this many steps are done (the schedule is unchanged)


@dataclass(frozen=True)
class RunResult:
    """How a run ended: status "finished", "stopped" (stop_at_step), "interrupted" (signal) or "stalled" (every
    recent update skipped; `problem` says why and what to change)."""

    status: str
    step: int
    total_steps: int
    skipped_steps: int
    checkpoint: Path
    signal_number: int | None = None
    problem: str | None = None


class TrainingObjective(nn.Module):
    """Model loss plus the weighted regulariser in one forward, so DDP sees all parameter uses in a single pass.

    With `head_only`, just the visibility head's BCE on the frozen model's view features (`run.train_only`): no
    generator pass, no target, a fraction of a full step's cost.
    """

    def __init__(self, model: TrainableModel, regularization_weight: float, head_only: bool = False) -> None:
        super().__init__()
        self.model = model
        self.regularization_weight = regularization_weight
        self.head_only = head_only

    def forward(
        self, views: torch.Tensor, target: torch.Tensor, progress: float, visibility: torch.Tensor
    ) -> tuple[torch.Tensor, FusionOutput | None, torch.Tensor | None]:
        """(total loss, the model's output (None when head-only), the per-example visibility BCE or None) for one
        batch at training `progress` (visibility labels train the model's visibility head, if it has one)."""
        if self.head_only:
            with torch.no_grad():
                features = self.model.visibility_features(views) if views.shape[1] else None
            bce = visibility_loss(self.model.visibility_head, views, features, visibility)
            assert bce is not None
            return bce.mean(), None, bce
        out: FusionOutput = self.model(views, target, progress=progress, visibility=visibility)
        with torch.autocast(views.device.type, enabled=False):
            penalty = self.model.regularization_loss()
        return out.loss.float() + self.regularization_weight * penalty, out, out.visibility_bce


def run_training(config: TrainConfig, options: RunOptions, resume: dict[str, Any] | None = None) -> RunResult:
    """Train per `config` (continuing from the loaded checkpoint `resume`, if given) in this process's rank."""
    context = distributed.setup(options.device)
    try:
        return Trainer(config, options, context, resume).run()
    finally:
        distributed.teardown(context)


class Trainer:
    """One rank's training state and loop (rank 0 also writes logs and checkpoints)."""

    def __init__(
        self, config: TrainConfig, options: RunOptions, context: DistributedContext, resume: dict[str, Any] | None
    ) -> None:
        self.config, self.options, self.context = config, options, context
        run, data = config.run, config.data
        if config.budget.batch_size % context.world_size:
            raise ConfigError(
                f"budget.batch_size ({config.budget.batch_size}) must be divisible by the number of processes "
                f"({context.world_size})"
            )
        torch.manual_seed(run.seed)
        self.model_config = config.model.model_config()
        data_options = data.dataset_options(self.model_config)
        train_set = build_dataset(data.dataset, "train", data.data_root, seed=run.seed, **data_options)
        self.eval_set = build_dataset(data.dataset, data.eval_split, data.data_root, seed=run.seed, **data_options)
        expected = (self.model_config.channels, self.model_config.image_size)
        if (train_set.channels, train_set.image_size) != expected:
            raise ConfigError(
                f"model preset {config.model.preset!r} expects {expected[0]}-channel {expected[1]}² images, but "
                f"{data.dataset} has {train_set.channels}-channel {train_set.image_size}² images"
            )
        self.batch_size = config.budget.batch_size // context.world_size
        self.batches = TrainBatches(
            train_set,
            self.batch_size,
            seed=run.seed,
            rank=context.rank,
            world_size=context.world_size,
            num_workers=data.num_workers,
            num_items=data.train_items,
            pin_memory=context.device.type == "cuda",
        )
        if self.batches.steps_per_epoch == 0:
            raise ConfigError(
                f"budget.batch_size ({config.budget.batch_size}) exceeds the {len(self.batches.sampler)} training "
                f"items per process of {data.dataset}"
            )
        epochs = config.budget.epochs
        self.total_steps = config.budget.max_steps or (epochs or 0) * self.batches.steps_per_epoch
        self.initialised = None  # how run.init_from initialised the weights (logged when the run starts)
        if resume is None:
            self.model, self.model_config_dict = build_model(config.model.kind, self.model_config)
            if run.init_from is not None:
                self.initialised = initialise_from(self.model, config.model.kind, run.init_from)
        else:
            self.model = model_from_checkpoint(resume, "to resume")
            self.model_config_dict = resume["model_config"]
        to_channels_last(self.model.to(context.device))  # same losses (test_model_nvae_mechanics.py), ~1.6x faster
        self.head_only = run.train_only == "visibility_head"
        if self.head_only:  # the rest stays as trained: no gradients, BatchNorm statistics frozen (eval mode)
            for parameter in self.model.parameters():
                parameter.requires_grad_(False)
            assert self.model.visibility_head is not None  # the config check requires the head
            self.model.visibility_head.requires_grad_(True)
        self._training_mode()
        optim = config.optim
        self.optimizer = torch.optim.Adamax(
            [parameter for parameter in self.model.parameters() if parameter.requires_grad],
            lr=optim.lr,
            betas=(optim.betas[0], optim.betas[1]),
            weight_decay=optim.weight_decay,
        )
        self.guard = SkipGuard(optim.skip_threshold, optim.max_consecutive_skips)
        self.step = 0
        self.elapsed_before = 0.0
        self.resumed_world_size: int | None = None
        if resume is None:
            torch.manual_seed(_rank_seed(run.seed, context.rank))
        else:
            self._restore(resume["train_state"])
        objective: nn.Module = distributed.wrap(
            TrainingObjective(self.model, self.model_config.regularization_weight, self.head_only), context
        )
        self.objective = torch.compile(objective) if run.compile else objective
        self.use_bf16 = run.bf16 and context.device.type == "cuda"
        self.checkpoint_path = options.run_dir / CHECKPOINT_FILE

    # --------------------------------------------------------------------------------------------- main loop
    def run(self) -> RunResult:
        """Train until the budget, `stop_at_step` or a signal; always leave a checkpoint of the last step."""
        config, context = self.config, self.context
        logger = RunLogger(
            self.options.run_dir,
            total_steps=self.total_steps,
            start_step=self.step,
            log_interval=config.run.log_interval,
            enabled=context.is_main,
        )
        if self.resumed_world_size not in (None, context.world_size):
            logger.message(
                f"resuming a {self.resumed_world_size}-process run with {context.world_size} processes: data order "
                "and RNG streams differ from an uninterrupted run"
            )
        if self.initialised is not None:
            logger.message(self.initialised)
        logger.message(
            f"{config.name}: {config.model.kind} with {_num_parameters(self.model):,} parameters, step {self.step} "
            f"of {self.total_steps} ({self.batches.steps_per_epoch} steps/epoch, batch {config.budget.batch_size} "
            f"on {context.world_size} process(es), {context.device})"
        )
        stop = StopRequest()
        status, signal_number, problem = "finished", None, None
        started = time.perf_counter()
        try:
            with stop.installed():
                for batch in self._batches():
                    if self.step >= self.total_steps:
                        break
                    stop_requested = self._train_step(batch, stop.requested, logger)
                    if self.step % config.run.eval_interval == 0 or self.step == self.total_steps:
                        self._evaluate(logger)
                    if stop_requested:
                        status, signal_number = "interrupted", stop.signal_number
                        break
                    if self.guard.stalled:
                        status, problem = "stalled", self.guard.stall_message()
                        break
                    if self.options.stop_at_step is not None and self.step >= self.options.stop_at_step:
                        status = "stopped"
                        break
                    if self.step % config.run.ckpt_interval == 0 and self.step < self.total_steps:
                        self._save(self.elapsed_before + time.perf_counter() - started, "periodic")
                self._save(self.elapsed_before + time.perf_counter() - started, status)
        finally:
            logger.close()
        return RunResult(
            status, self.step, self.total_steps, self.guard.skipped, self.checkpoint_path, signal_number, problem
        )

    def _batches(self) -> Iterator[FusionBatch]:
        """Training batches from the current step on, across epoch boundaries."""
        while True:
            epoch, start = divmod(self.step, self.batches.steps_per_epoch)
            yield from self.batches.epoch(epoch, start)

    def _train_step(self, batch: FusionBatch, stop_requested: bool, logger: RunLogger) -> bool:
        """One optimisation step (or a counted skip); returns whether any rank asked to stop."""
        config, context, step = self.config, self.context, self.step
        views = batch.views.to(context.device, non_blocking=True)
        target = batch.target.to(context.device, non_blocking=True)
        visibility = batch.visibility.to(context.device, non_blocking=True)
        lr = learning_rate(step, self.total_steps, config.optim.lr, config.optim.lr_min, config.optim.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        snapshot = BufferSnapshot(self.model)
        with torch.autocast(context.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
            loss, out, bce = self.objective(views, target, training_progress(step, self.total_steps), visibility)
        if step in config.debug.nan_at_steps:
            loss = loss * float("nan")
        self.optimizer.zero_grad(set_to_none=True)
        if loss.requires_grad:  # else a head-only step on a batch without views: nothing to learn from it
            loss.backward()
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None])
        if config.optim.grad_clip is not None:
            torch.nn.utils.clip_grads_with_norm_(parameters, config.optim.grad_clip, grad_norm)
        loss_value = float(loss.detach())
        non_finite, stop_anywhere = distributed.any_across_ranks(
            [not math.isfinite(loss_value), stop_requested], context
        )
        reason = self.guard.check(not non_finite, float(grad_norm))
        if reason is None:
            self.optimizer.step()
        else:
            self.optimizer.zero_grad(set_to_none=True)
            snapshot.restore_non_finite()
            logger.message(f"step {step}: update skipped ({reason}); {self.guard.skipped} skipped so far")
        metrics: dict[str, Any] = {
            "loss": loss_value,
            "lr": lr,
            "grad_norm": float(grad_norm),
            "k": int(views.shape[1]),
            "skipped": reason,
            "skipped_total": self.guard.skipped,
        }
        kl_per_group: list[float] = []
        if out is not None:
            kl = out.kl_per_group.detach().float()
            kl_per_group = kl.mean(dim=0).tolist()
            metrics.update(recon_nll=float(out.recon_nll.detach().float().mean()), kl=float(kl.sum(dim=1).mean()))
            metrics["beta"] = out.beta
        if bce is not None:
            metrics["visibility_bce"] = float(bce.detach().float().mean())
        logger.step(step, metrics, kl_per_group, views.shape[0] * context.world_size)
        self.step += 1
        return stop_anywhere

    # ------------------------------------------------------------------------------------------- evaluation
    def _evaluate(self, logger: RunLogger) -> None:
        """Validation bits/dim on the first `eval_batches` fixed batches (at most `eval_items` items) and a sample
        grid per K (rank 0; the training RNG is untouched)."""
        if not self.context.is_main:
            return
        model, device, run = self.model, self.context.device, self.config.run
        item_limit = self.config.data.eval_items or len(self.eval_set)
        was_training = model.training
        model.eval()
        loader = make_loader(self.eval_set, self.batch_size, shuffle=False, num_workers=0, seed=run.seed)
        recon, kl, count = 0.0, 0.0, 0
        bce, bce_items = 0.0, 0  # visibility BCE over the items that had views
        fork_devices = [device] if device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(run.seed)
            for index, batch in enumerate(loader):
                if index >= run.eval_batches or count >= item_limit:
                    break
                keep = item_limit - count
                views, target, visibility = batch.views[:keep], batch.target[:keep], batch.visibility[:keep]
                out: FusionOutput = model(
                    views.to(device), target.to(device), progress=1.0, visibility=visibility.to(device)
                )
                recon += float(out.recon_nll.float().sum())
                kl += float(out.kl_per_group.float().sum())
                if out.visibility_bce is not None and views.shape[1]:
                    bce += float(out.visibility_bce.float().sum())
                    bce_items += target.shape[0]
                count += target.shape[0]
            grid = compose_grid(self._grid_rows())
        if was_training:
            self._training_mode()
        dims_ln2 = self.model_config.channels * self.model_config.image_size**2 * math.log(2.0)
        metrics = {"recon_bpd": recon / count / dims_ln2}
        if kl:
            metrics.update(kl_bpd=kl / count / dims_ln2, neg_elbo_bpd=(recon + kl) / count / dims_ln2)
        if bce_items:
            metrics["visibility_bce_per_pixel"] = bce / bce_items / self.model_config.image_size**2
        logger.evaluation(self.step, metrics, grid)

    def _training_mode(self) -> None:
        """Train mode for what trains: the whole model, or with run.train_only its head alone (the frozen rest in
        eval mode, so its BatchNorm statistics stay as they were trained)."""
        self.model.train(not self.head_only)
        if self.head_only and self.model.visibility_head is not None:
            self.model.visibility_head.train()

    def _grid_rows(self) -> list[list[torch.Tensor | None]]:
        """Rows of [view 1..3 (blank if absent), target, samples] for `grid_examples` examples per K = 0..3."""
        rows: list[list[torch.Tensor | None]] = []
        for k in range(4):
            loader = make_loader(
                self.eval_set, self.config.run.grid_examples, shuffle=False, num_workers=0, seed=0, fixed_k=k
            )
            views, target, *_ = next(iter(loader))
            samples = self.model.sample(views.to(self.context.device), num_samples=GRID_SAMPLES).cpu()
            for b in range(target.shape[0]):
                inputs: list[torch.Tensor | None] = [views[b, i] if i < k else None for i in range(3)]
                rows.append([*inputs, target[b], *samples[b]])
        return rows

    # -------------------------------------------------------------------------------------------- checkpoint
    def _save(self, elapsed: float, status: str) -> None:
        """Write the checkpoint (rank 0) with every rank's RNG state; all ranks wait until it is on disk."""
        context = self.context
        distributed.broadcast_buffers(self.model, context)
        rng_states = distributed.gather_objects(capture_rng_state(), context)
        weight_digests = distributed.gather_objects(distributed.state_digest(self.model.state_dict()), context)
        if context.is_main:
            config = self.config
            save_checkpoint(
                self.checkpoint_path,
                model_kind=config.model.kind,
                model_config=self.model_config_dict,
                state_dict=self.model.state_dict(),
                train_state={
                    "step": self.step,
                    "total_steps": self.total_steps,
                    "skipped_steps": self.guard.skipped,
                    "optimizer": self.optimizer.state_dict(),
                    "rng": rng_states,
                    "rank_weight_digests": weight_digests,
                    "world_size": context.world_size,
                    "elapsed_seconds": elapsed,
                    "config": config.to_dict(),
                },
                meta={
                    "status": status,
                    "config_name": config.name,
                    "dataset": config.data.dataset,
                    "num_parameters": _num_parameters(self.model),
                    "hardware": describe_hardware(context.device, context.world_size),
                },
            )
        distributed.barrier(context)

    def _restore(self, train_state: dict[str, Any]) -> None:
        """Continue from a checkpoint's training state (weights are already loaded)."""
        self.optimizer.load_state_dict(train_state["optimizer"])
        self.step = int(train_state["step"])
        self.guard.skipped = int(train_state["skipped_steps"])
        self.elapsed_before = float(train_state["elapsed_seconds"])
        self.resumed_world_size = int(train_state["world_size"])
        if self.resumed_world_size == self.context.world_size:
            restore_rng_state(train_state["rng"][self.context.rank])
        else:
            torch.manual_seed(_rank_seed(self.config.run.seed + self.step, self.context.rank))


def _rank_seed(seed: int, rank: int) -> int:
    """Seed of a rank's model-noise stream."""
    return int(np.random.SeedSequence([seed, rank, 1]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _num_parameters(model: nn.Module) -> int:
    """Trainable parameters of a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
