"""Rendered benchmark items at a camera's resolution (e.g. 640x480) for the demo and the bag tools: FusionTabletop
scenes (`CameraScenes`) and fusion_tabletop_arm sequences of a fixed camera watching the arm (`CameraSequences`).

pybullet's field of view is vertical, so the centred square crop of a W x H render (W >= H) shows what the square
training render of the same camera shows: the node's `resize_mode: center_crop` hands the model the view it was
trained on. Items are drawn like the cache's (same rules, disjoint object sets and arms) and rendered on first
access.
"""

from __future__ import annotations

from torch.utils.data import Dataset

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.fusion_dataset import FusionItem
from fusionvae_core.data.tabletop.cache import TABLETOP, Benchmark
from fusionvae_core.data.tabletop.dataset import rendered_item
from fusionvae_core.data.tabletop.generator import item_rng
from fusionvae_core.data.tabletop.objects import object_set
from fusionvae_core.data.tabletop.renderer import TabletopRenderer
from fusionvae_core.data.tabletop.sequence import DEFAULT_FRAMES, ArmBenchmark


class CameraScenes(Dataset[FusionItem]):
    """`count` items of `benchmark`'s `split` at `width` x `height`; FusionItem with all rendered views [V,3,H,W]
    (fusion_tabletop: the 3 views)."""

    def __init__(
        self, split: str, count: int, width: int, height: int, seed: int = 0, benchmark: Benchmark = TABLETOP
    ) -> None:
        """Prepare (render nothing yet); DatasetError for a size the model's centre crop cannot use."""
        if count < 1 or min(width, height) < 8 or width < height:
            raise DatasetError(f"camera scenes need count >= 1 and width >= height >= 8, got {count}, {width}x{height}")
        self.split, self.count, self.width, self.height, self.seed = split, count, width, height, seed
        self.benchmark = benchmark
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
            scene = self.benchmark.render(self.renderer, self.objects, self.split, rng, self.width, self.height)
            self.items[index] = rendered_item(index, scene.target, scene.views, scene.view_visible, scene.target_mask)
        return self.items[index]


class CameraSequences(CameraScenes):
    """`count` fusion_tabletop_arm sequences of `split` at `width` x `height`: a fixed camera watching the arm.

    Item views are all `frames` frames [T,3,H,W], oldest first, as the camera streams them, with their visibility
    labels [T,H,W]; the target is the workspace without the arm.
    """

    def __init__(
        self, split: str, count: int, width: int = 640, height: int = 480, frames: int = DEFAULT_FRAMES, seed: int = 0
    ) -> None:
        """Prepare (render nothing yet); DatasetError for a size the centre crop cannot use or too few frames."""
        super().__init__(split, count, width, height, seed, ArmBenchmark(frames))
