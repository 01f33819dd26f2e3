"""FusionTabletop scenes rendered at a camera's resolution (e.g. 640x480) for the demo and the bag tools.

pybullet's field of view is vertical, so the centred square crop of a W x H render (W >= H) shows what the square
training render of the same camera shows: the node's `resize_mode: center_crop` hands the model the view it was
trained on. Scenes are drawn like the cache's (same rules, disjoint object sets) and rendered on first access.
"""

from __future__ import annotations

from torch.utils.data import Dataset

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.fusion_dataset import FusionItem
from fusionvae_core.data.tabletop.dataset import rendered_item
from fusionvae_core.data.tabletop.generator import item_rng, render_scene
from fusionvae_core.data.tabletop.objects import object_set
from fusionvae_core.data.tabletop.renderer import TabletopRenderer


class CameraScenes(Dataset[FusionItem]):
    """`count` scenes of `split` at `width` x `height`; items are FusionItem with views [3,3,H,W]."""

    def __init__(self, split: str, count: int, width: int, height: int, seed: int = 0) -> None:
        """Prepare (render nothing yet); DatasetError for a size the model's centre crop cannot use."""
        if count < 1 or min(width, height) < 8 or width < height:
            raise DatasetError(f"camera scenes need count >= 1 and width >= height >= 8, got {count}, {width}x{height}")
        self.split, self.count, self.width, self.height, self.seed = split, count, width, height, seed
        self.objects = object_set(split)
        self.renderer: TabletopRenderer | None = None
        self.items: dict[int, FusionItem] = {}

    def __len__(self) -> int:
        """Number of scenes."""
        return self.count

    def __getitem__(self, index: int) -> FusionItem:
        """Scene `index`, rendered now if it was not yet."""
        if not 0 <= index < self.count:
            raise IndexError(f"index {index} out of range for {self.count} camera scenes")
        if index not in self.items:
            if self.renderer is None:
                self.renderer = TabletopRenderer()
            rng = item_rng(self.seed, self.split, index)
            scene = render_scene(self.renderer, self.objects, rng, self.width, self.height)
            self.items[index] = rendered_item(index, scene.target, scene.views, scene.view_visible, scene.target_mask)
        return self.items[index]
