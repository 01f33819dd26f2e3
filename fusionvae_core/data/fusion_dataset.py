"""The fusion dataset: per index a clean target [C,H,W], 3 independently corrupted views [3,C,H,W] and their
visibility labels [3,H,W] (data/visibility.py).

Randomness: for "val"/"test" every draw (views, augmentation) comes from a numpy generator seeded with
(seed, split, index), so every evaluation sees the same inputs; for "train" each item gets a fresh generator
seeded from torch's RNG, which DataLoader seeds differently in every worker.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch
from torch.utils.data import Dataset

from fusionvae_core.data.image_files import to_chw_float
from fusionvae_core.data.visibility import MadeViews, agreement_visibility

SPLITS = ("train", "val", "test")
_SPLIT_CODES = {split: code for code, split in enumerate(SPLITS)}
NUM_VIEWS = 3


class FusionItem(NamedTuple):
    """One sample: `views` float [3,C,H,W], `target` float [C,H,W] (both in [0,1]), `dataset_index`, `visibility`
    float [3,H,W] (1 = the view shows the scene there) and, where the data knows it, `object_mask` bool [H,W]
    (target-object pixels: the renderer's segmentation)."""

    views: torch.Tensor
    target: torch.Tensor
    dataset_index: int
    visibility: torch.Tensor
    object_mask: torch.Tensor | None = None


class TargetSource(Protocol):
    """Where targets come from: a sized collection of float32 [C,H,W] images in [0,1]."""

    channels: int
    image_size: int

    def __len__(self) -> int:
        """Number of targets."""
        ...

    def target(self, index: int, augment_rng: np.random.Generator | None) -> np.ndarray:
        """Target `index` as float32 [C,H,W]; training augmentation is drawn from `augment_rng` when given."""
        ...


class ViewMaker(Protocol):
    """Turns one target [C,H,W] into independently corrupted views [V,C,H,W] and their visibility using `rng`."""

    def __call__(self, target: np.ndarray, rng: np.random.Generator) -> MadeViews:
        """Return the views of `target` with their labels."""
        ...


@runtime_checkable
class RecordedViewsSource(Protocol):
    """A target source whose items bring their own views (a bag's already occluded camera frames)."""

    def target_and_views(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Target float32 [C,H,W] and its recorded views [3,C,H,W] of item `index`."""
        ...


class ArraySource:
    """Targets held in memory as uint8 images [N,H,W] (grey) or [N,H,W,C]; no augmentation."""

    def __init__(self, images: np.ndarray) -> None:
        """Wrap square uint8 images; grey images get one channel."""
        self.images = images if images.ndim == 4 else images[..., None]
        self.image_size = int(self.images.shape[1])
        self.channels = int(self.images.shape[3])

    def __len__(self) -> int:
        """Number of images."""
        return len(self.images)

    def target(self, index: int, augment_rng: np.random.Generator | None) -> np.ndarray:
        """Image `index` as float32 [C,H,W] in [0,1]."""
        return to_chw_float(self.images[index])


class FusionDataset(Dataset[FusionItem]):
    """Live-augmented fusion dataset; `image_size`, `channels`, `split`, `seed` describe it (see module doc)."""

    def __init__(self, name: str, split: str, source: TargetSource, view_maker: ViewMaker, seed: int) -> None:
        """Combine a target source with a view maker; `split` picks training (random) or fixed evaluation draws."""
        self.name = name
        self.split = split
        self.seed = seed
        self.source = source
        self.view_maker = view_maker
        self.image_size = source.image_size
        self.channels = source.channels

    def __len__(self) -> int:
        """Number of targets in this split."""
        return len(self.source)

    def rng_for(self, index: int) -> np.random.Generator:
        """Generator for item `index`: fixed by (seed, split, index) for evaluation, fresh from torch for training."""
        if self.split == "train":
            return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
        return np.random.default_rng((self.seed, _SPLIT_CODES[self.split], index))

    def __getitem__(self, index: int) -> FusionItem:
        """Target `index` (augmented when training), its 3 independently corrupted views and their visibility."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {self.name}/{self.split} of size {len(self)}")
        if isinstance(self.source, RecordedViewsSource):
            target, views = self.source.target_and_views(index)
            made = MadeViews(views, agreement_visibility(views, target))
        else:
            rng = self.rng_for(index)
            target = self.source.target(index, rng if self.split == "train" else None)
            made = self.view_maker(target, rng)
        return FusionItem(
            torch.from_numpy(made.views), torch.from_numpy(target), index, torch.from_numpy(made.visibility)
        )
