"""make_loader: one K per batch, all K values in training, fixed evaluation batches, distinct worker streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusionvae_core.data import DatasetError, FusionBatch, build_dataset, make_loader
from fusionvae_core.data.fusion_dataset import ArraySource, FusionDataset
from fusionvae_core.data.masks import FUSION_CELEBA_RECIPE, EllipseViews


def all_white_dataset(count: int) -> FusionDataset:
    """Training dataset of all-white targets without noise: every view is exactly its window mask."""
    source = ArraySource(np.full((count, 32, 32), 255, dtype=np.uint8))
    return FusionDataset("white", "train", source, EllipseViews(FUSION_CELEBA_RECIPE), seed=0)


def test_two_workers_give_one_k_per_batch_all_k_values_and_different_masks() -> None:
    loader = make_loader(all_white_dataset(256), batch_size=8, shuffle=False, num_workers=2, seed=0)
    batches = list(loader)
    assert len(batches) == 32
    ks = []
    for batch in batches:
        assert isinstance(batch, FusionBatch)
        views, target, visibility, _ = batch
        assert visibility.shape == (*views.shape[:2], 32, 32)
        assert views.ndim == 5 and views.shape[0] == 8 and views.shape[2:] == (1, 32, 32)
        assert target.shape == (8, 1, 32, 32) and bool((target == 1).all())
        ks.append(views.shape[1])
    assert set(ks) == {0, 1, 2, 3}
    # Batches alternate between the two workers; identically seeded workers would give identical windows.
    fixed = make_loader(all_white_dataset(16), batch_size=8, shuffle=False, num_workers=2, seed=0, fixed_k=3)
    worker_0_batch, worker_1_batch = list(fixed)
    assert not torch.equal(worker_0_batch.views, worker_1_batch.views)
    assert worker_0_batch.views.sum() > 0 and worker_1_batch.views.sum() > 0


def test_evaluation_batches_are_fixed_by_the_seed() -> None:
    val = build_dataset("fusion_mnist", "val", seed=0)

    def first_batches(seed: int) -> list[FusionBatch]:
        loader = make_loader(val, batch_size=20, shuffle=False, num_workers=0, seed=seed)
        return [batch for _, batch in zip(range(12), loader)]

    first, again, other = first_batches(1), first_batches(1), first_batches(2)
    assert [b.views.shape[1] for b in first] == [b.views.shape[1] for b in again]
    assert len({b.views.shape[1] for b in first}) > 1
    assert [b.views.shape[1] for b in first] != [b.views.shape[1] for b in other]
    for a, b in zip(first, again):
        torch.testing.assert_close(a.views, b.views, rtol=0, atol=0)
    for k in range(4):
        batch = next(iter(make_loader(val, batch_size=5, shuffle=False, num_workers=0, seed=0, fixed_k=k)))
        assert batch.views.shape == (5, k, 1, 32, 32)
        torch.testing.assert_close(batch.views[0], val[0].views[:k], rtol=0, atol=0)  # the same fixed views per K
    with pytest.raises(DatasetError, match="fixed_k"):
        make_loader(val, batch_size=5, shuffle=False, num_workers=0, seed=0, fixed_k=4)
