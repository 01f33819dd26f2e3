"""Deterministic training batches: data order and every random draw are functions of (seed, epoch, rank, batch).

Each epoch's indices come from DistributedSampler (a permutation seeded by seed + epoch, split across ranks).
Each batch is built under a torch RNG seeded from (seed, epoch, rank, batch index), which fixes its view masks,
augmentation and view count K. So the batches do not depend on the number of loader workers or on where a run
was resumed, and building them leaves the training process's own RNG (the model's noise) untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from fusionvae_core.data import FusionBatch, FusionDataset, FusionItem
from fusionvae_core.data.loader import KPerBatchCollate
from fusionvae_core.training.signals import ignore_stop_signals

BatchKey = tuple[int, int, list[int]]  # (epoch, batch index within the epoch, dataset indices)


def batch_seed(seed: int, epoch: int, rank: int, batch_index: int) -> int:
    """Torch seed of one batch (a hash of its coordinates; independent streams for different coordinates)."""
    return int(np.random.SeedSequence([seed, epoch, rank, batch_index]).generate_state(1, dtype=np.uint64)[0] >> 1)


class SeededBatchDataset(Dataset[FusionBatch]):
    """Maps a BatchKey to the finished batch, built under the batch's own seeded torch RNG."""

    def __init__(self, dataset: Dataset[FusionItem], seed: int, rank: int) -> None:
        self.dataset = dataset
        self.seed = seed
        self.rank = rank
        self.collate = KPerBatchCollate(random_k=True, seed=seed)

    def __getitem__(self, key: BatchKey) -> FusionBatch:
        """Items of the batch stacked with one random K, all draws from the batch's seed."""
        epoch, batch_index, indices = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(batch_seed(self.seed, epoch, self.rank, batch_index))
            return self.collate([self.dataset[i] for i in indices])


class TrainBatches:
    """The training batches of one rank, epoch by epoch; `steps_per_epoch` full batches per epoch."""

    def __init__(
        self,
        dataset: FusionDataset,
        batch_size: int,
        *,
        seed: int,
        rank: int,
        world_size: int,
        num_workers: int,
        num_items: int | None = None,
        pin_memory: bool = False,
    ) -> None:
        """`batch_size` is per rank; `num_items` restricts training to the first items of the dataset."""
        source: Dataset[FusionItem] = (
            dataset if num_items is None else Subset(dataset, range(min(num_items, len(dataset))))
        )
        self.sampler: DistributedSampler[int] = DistributedSampler(
            source, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.batches = SeededBatchDataset(source, seed, rank)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.steps_per_epoch = len(self.sampler) // batch_size

    def keys(self, epoch: int, start_batch: int = 0) -> list[BatchKey]:
        """Keys of the epoch's batches from `start_batch` on (drop-last: only full batches)."""
        self.sampler.set_epoch(epoch)
        indices = list(self.sampler)
        return [
            (epoch, b, indices[b * self.batch_size : (b + 1) * self.batch_size])
            for b in range(start_batch, self.steps_per_epoch)
        ]

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[FusionBatch]:
        """The batches of `epoch`, skipping the first `start_batch` (already consumed before a resume)."""
        loader = DataLoader(
            self.batches,
            batch_size=None,
            sampler=self.keys(epoch, start_batch),
            num_workers=self.num_workers,
            collate_fn=_as_is,
            worker_init_fn=ignore_stop_signals if self.num_workers else None,
            pin_memory=self.pin_memory,
            # its own generator: starting an iterator must not draw from the global RNG (the model's noise stream)
            generator=torch.Generator().manual_seed(epoch),
        )
        yield from loader


def _as_is(batch: Any) -> Any:
    """Collate function of pre-built batches (a module-level function, so workers can pickle it)."""
    return batch
