"""DataLoader with one view count K ∈ {0,1,2,3} per batch (paper sec. 5.4).

Batches are `FusionBatch(views [B,K,C,H,W], target [B,C,H,W], visibility [B,K,H,W], object_mask [B,H,W] | None)`.
Training batches draw K uniformly from torch's RNG, which the DataLoader seeds per worker from `seed` (with
num_workers=0 it is the process's global RNG: call torch.manual_seed for a reproducible run); evaluation batches
take `fixed_k`, or else a K fixed by (seed, first index of the batch), so every evaluation sees the same inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.fusion_dataset import NUM_VIEWS, FusionDataset, FusionItem

_K_STREAM = 7919  # separates the K draws from the per-item view draws of the same seed


class FusionBatch(NamedTuple):
    """One batch: `views` float [B,K,C,H,W] (K may be 0) and `target` float [B,C,H,W], both in [0,1]; the views'
    `visibility` float [B,K,H,W] and, where every item has one, the target-object pixels `object_mask` [B,H,W]."""

    views: torch.Tensor
    target: torch.Tensor
    visibility: torch.Tensor
    object_mask: torch.Tensor | None = None


class KPerBatchCollate:
    """Collate function stacking items and keeping the first K views, one K for the whole batch."""

    def __init__(self, random_k: bool, seed: int, fixed_k: int | None = None) -> None:
        """`fixed_k` wins; else K is random per batch (`random_k`) or fixed by (seed, first index)."""
        if fixed_k is not None and not 0 <= fixed_k <= NUM_VIEWS:
            raise DatasetError(f"fixed_k must be in 0..{NUM_VIEWS}, got {fixed_k}")
        self.random_k = random_k
        self.seed = seed
        self.fixed_k = fixed_k

    def choose_k(self, first_index: int) -> int:
        """The view count of a batch whose first item has dataset index `first_index`."""
        if self.fixed_k is not None:
            return self.fixed_k
        if self.random_k:
            return int(torch.randint(0, NUM_VIEWS + 1, (1,)).item())
        return int(np.random.default_rng((self.seed, _K_STREAM, first_index)).integers(0, NUM_VIEWS + 1))

    def __call__(self, items: Sequence[FusionItem]) -> FusionBatch:
        """Stack `items` into a batch with one K."""
        k = self.choose_k(items[0].dataset_index)
        views = torch.stack([item.views[:k] for item in items])
        target = torch.stack([item.target for item in items])
        visibility = torch.stack([item.visibility[:k] for item in items])
        masks = [item.object_mask for item in items if item.object_mask is not None]
        object_mask = torch.stack(masks) if len(masks) == len(items) else None
        return FusionBatch(views, target, visibility, object_mask)


def make_loader(
    dataset: FusionDataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    seed: int,
    fixed_k: int | None = None,
    drop_last: bool = False,
) -> DataLoader[FusionItem]:
    """DataLoader over `dataset` yielding FusionBatch with one K per batch (random for "train", else fixed)."""
    collate = KPerBatchCollate(random_k=dataset.split == "train", seed=seed, fixed_k=fixed_k)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(seed),
        drop_last=drop_last,
        persistent_workers=num_workers > 0,
    )
