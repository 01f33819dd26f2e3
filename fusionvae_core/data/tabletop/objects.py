"""The renderer (pybullet, imported on demand) and the disjoint object sets of the train / val / test splits.

Objects are the procedurally generated meshes pybullet ships under pybullet_data/random_urdfs (1,000 blocky
objects of about 10 cm, each with its own colour). They are shuffled once with OBJECT_SPLIT_SEED and cut into
three disjoint sets, so test scenes show target objects and occluders that training never saw (the T-LESS
recipe's idea). The cut is fixed, not tied to the render seed: caches rendered with different seeds still never
share objects across splits.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from types import ModuleType

import numpy as np

from fusionvae_core.data.errors import DatasetError

PYBULLET_REQUIREMENT = "pybullet==3.2.7"
OBJECT_SPLIT_SEED = 1606
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
RANDOM_OBJECT_DIR = "random_urdfs"


def load_pybullet() -> ModuleType:
    """The pybullet module; DatasetError with the install command if it is missing."""
    try:
        import pybullet
    except ImportError as error:
        raise DatasetError(
            f"fusion_tabletop renders with pybullet, which is not installed: pip install {PYBULLET_REQUIREMENT}"
        ) from error
    return pybullet


def pybullet_data_dir() -> Path:
    """Folder of the meshes and URDF files that ship with pybullet."""
    load_pybullet()
    import pybullet_data

    return Path(pybullet_data.getDataPath())


def object_set(split: str) -> list[str]:
    """URDF paths (relative to pybullet_data) of the objects of `split`; the three sets are disjoint."""
    if split not in SPLIT_FRACTIONS:
        raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_FRACTIONS)}")
    root = pybullet_data_dir() / RANDOM_OBJECT_DIR
    names = sorted(path.name for path in root.iterdir() if (path / f"{path.name}.urdf").is_file())
    if not names:
        raise DatasetError(f"{root}: no objects found; reinstall {PYBULLET_REQUIREMENT}")
    order = np.random.default_rng(OBJECT_SPLIT_SEED).permutation(len(names))
    bounds = np.cumsum([0, *(round(fraction * len(names)) for fraction in SPLIT_FRACTIONS.values())])
    bounds[-1] = len(names)
    start, stop = dict(zip(SPLIT_FRACTIONS, itertools.pairwise(bounds)))[split]
    return [f"{RANDOM_OBJECT_DIR}/{names[i]}/{names[i]}.urdf" for i in sorted(order[start:stop])]
