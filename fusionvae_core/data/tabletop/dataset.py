"""The cached rendered benchmarks as FusionDatasets: items come from the render cache instead of a live view maker.

fusion_tabletop: val/test items are returned as rendered. fusion_tabletop_arm: an item's views are 3 of the T frames of
its window; val/test items take the frames the live node's temporal source fuses (view 0 the newest frame, then the two
that fusionvae_core.frame_selection.select_frames picks from the window), and the whole window stays available for
references that use it (`ArmDataset.window`). Training items of both get two augmentations that keep the scene
physically valid: the views are a random choice of the rendered views in random order (fusion_tabletop: its 3 views
shuffled, so a batch with K < 3 sees every view; fusion_tabletop_arm: 3 of the T frames) and the whole item (target,
views and their masks together) is mirrored left-right with probability 1/2. Items carry the views' visibility labels
and the target-object mask from the renderer's segmentation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.fusion_dataset import NUM_VIEWS, FusionDataset, FusionItem
from fusionvae_core.data.image_files import to_chw_float
from fusionvae_core.data.tabletop.cache import TABLETOP, Benchmark, CachedScenes, load_cache
from fusionvae_core.data.tabletop.sequence import ArmBenchmark


class TabletopDataset(FusionDataset):
    """The cached renders of one split of `benchmark` (`cache`); `image_size`, `channels`, `split`, `seed` as
    FusionDataset."""

    def __init__(self, root: Path | None, split: str, seed: int, benchmark: Benchmark = TABLETOP) -> None:
        """Load and verify the cache of `split` under `root` (DatasetError naming the render command if unusable).

        FusionDataset's source/view-maker pair does not apply (the views are rendered, not derived from the
        target), so this subclass sets the attributes itself and assembles items from the cache.
        """
        if root is None:
            command = benchmark.render_command(f"data/{benchmark.name}", split)  # where the docs and configs put it
            raise DatasetError(
                f"{benchmark.name} reads a render cache: render it once with `{command}` "
                "and pass that folder as data_root (--data-root)"
            )
        self.name = benchmark.name
        self.benchmark = benchmark
        self.split = split
        self.seed = seed
        self.cache: CachedScenes = load_cache(root, split, benchmark=benchmark)
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
        if self.split != "train":
            order = self.benchmark.eval_views(views)
            return rendered_item(index, target, views[order], visibility[order], objects)
        rng = self.rng_for(index)
        chosen = rng.choice(len(views), NUM_VIEWS, replace=False)
        views, visibility = views[chosen], visibility[chosen]
        if rng.random() < 0.5:
            target, views, visibility, objects = (
                target[:, ::-1],
                views[:, :, ::-1],
                visibility[:, :, ::-1],
                objects[:, ::-1],
            )
        return rendered_item(index, target, views, visibility, objects)


class ArmDataset(TabletopDataset):
    """fusion_tabletop_arm: items are 3 frames of a T-frame window (module doc); `frames` is T."""

    def __init__(self, root: Path | None, split: str, seed: int) -> None:
        """Load the fusion_tabletop_arm cache of `split` under `root` (any number of frames)."""
        super().__init__(root, split, seed, ArmBenchmark())
        self.frames = int(self.cache.views.shape[1])

    def window_frames(self, index: int) -> np.ndarray:
        """All T frames of item `index`, oldest first, as rendered (never augmented): uint8 [T,H,W,3]."""
        return np.asarray(self.cache.views[index])

    def window(self, index: int) -> torch.Tensor:
        """All T frames of item `index` laid out like an item's views: float [T,C,H,W] in [0,1] (for the temporal
        median of the whole window, baselines.references.view_median of the window)."""
        return torch.from_numpy(np.stack([to_chw_float(frame) for frame in self.window_frames(index)]))


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
