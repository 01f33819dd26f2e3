"""FusionTabletop as a FusionDataset: items come from the render cache instead of a live view maker.

Val/test items are returned as rendered. Training items get two augmentations that keep the scene physically
valid: the order of the 3 views is shuffled (so a batch with K < 3 sees every view) and the whole item (target,
views and their masks together) is mirrored left-right with probability 1/2. Items carry the views' visibility
labels and the target-object mask from the renderer's segmentation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.fusion_dataset import FusionDataset, FusionItem
from fusionvae_core.data.image_files import to_chw_float
from fusionvae_core.data.tabletop.cache import CachedScenes, load_cache, render_command

DATASET_NAME = "fusion_tabletop"
DEFAULT_ROOT = "data/fusion_tabletop"  # where the docs and training/configs/fusion_tabletop.yaml put the cache


class TabletopDataset(FusionDataset):
    """The cached renders of one split (`cache`); `image_size`, `channels`, `split`, `seed` as FusionDataset."""

    def __init__(self, root: Path | None, split: str, seed: int) -> None:
        """Load and verify the cache of `split` under `root` (DatasetError naming the render command if unusable).

        FusionDataset's source/view-maker pair does not apply (the views are rendered, not derived from the
        target), so this subclass sets the attributes itself and assembles items from the cache.
        """
        if root is None:
            raise DatasetError(
                f"{DATASET_NAME} reads a render cache: render it once with `{render_command(DEFAULT_ROOT, split)}` "
                "and pass that folder as data_root (--data-root)"
            )
        self.name = DATASET_NAME
        self.split = split
        self.seed = seed
        self.cache: CachedScenes = load_cache(root, split)
        self.image_size = int(self.cache.targets.shape[1])
        self.channels = int(self.cache.targets.shape[3])

    def __len__(self) -> int:
        """Number of rendered items."""
        return len(self.cache.targets)

    def __getitem__(self, index: int) -> FusionItem:
        """Rendered item `index` as float tensors (augmented when training, see module doc)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {self.name}/{self.split} of size {len(self)}")
        cache = self.cache
        target, views, visibility, objects = (
            cache.targets[index],
            cache.views[index],
            cache.view_visible[index],
            cache.target_mask[index],
        )
        if self.split == "train":
            rng = self.rng_for(index)
            order = rng.permutation(len(views))
            views, visibility = views[order], visibility[order]
            if rng.random() < 0.5:
                target, views, visibility, objects = (
                    target[:, ::-1],
                    views[:, :, ::-1],
                    visibility[:, :, ::-1],
                    objects[:, ::-1],
                )
        return rendered_item(index, target, views, visibility, objects)


def rendered_item(
    index: int, target: np.ndarray, views: np.ndarray, visibility: np.ndarray, objects: np.ndarray
) -> FusionItem:
    """A FusionItem of uint8 renders (target [H,W,3], views [V,H,W,3]) with bool visibility [V,H,W] and the
    target-object mask [H,W]."""
    return FusionItem(
        torch.from_numpy(np.stack([to_chw_float(view) for view in views])),
        torch.from_numpy(to_chw_float(target)),
        index,
        torch.from_numpy(np.ascontiguousarray(visibility, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(objects, dtype=bool)),
    )
