"""What the user's-own-data datasets (image_folder, rosbag) share: options, the hashed split, the index cache and
a target source that decodes lazily and never lets one bad frame crash a loader worker.

Split: every item has a stable key (an image's path relative to the folder; a frame's bag and second).
u = the first 8 bytes of sha256(split_seed, key) as a number in [0, 1); u < test_fraction → test,
u < test_fraction + val_fraction → val, else train. Adding or removing items never moves another item, and the
split does not depend on the run's seed, so runs with different seeds (and evaluate.py) share one test set.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from fusionvae_core.atomic_file import write_atomically
from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.framing import RESIZE_MODES, frame_image
from fusionvae_core.data.image_files import to_chw_float

T = TypeVar("T")
CACHE_SUBDIR = "fusionvae_ros"
NAMES_SHOWN = 3  # unreadable items named in the start-up line


@dataclass(frozen=True)
class OwnDataOptions:
    """Size and channels (from the model config), resize mode, split fractions and seed, the index cache folder."""

    image_size: int = 64
    channels: int = 3
    resize: str = "resize"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        """DatasetError naming the option that is out of range."""
        if self.channels not in (1, 3):
            raise DatasetError(f"model.channels: own data needs 1 (grey) or 3 (RGB), got {self.channels}")
        if self.image_size < 1:
            raise DatasetError(f"model.image_size: must be >= 1, got {self.image_size}")
        if self.resize not in RESIZE_MODES:
            raise DatasetError(f"data.resize: expected one of {', '.join(RESIZE_MODES)}, got {self.resize!r}")
        for key in ("val_fraction", "test_fraction"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise DatasetError(f"data.{key}: must lie in [0, 1), got {getattr(self, key)}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise DatasetError(
                f"data.val_fraction + data.test_fraction must stay below 1 (got {self.val_fraction} + "
                f"{self.test_fraction}): nothing would be left to train on"
            )

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> OwnDataOptions:
        """The options that are set in `options` (None or absent: the default)."""
        fields = cls.__dataclass_fields__
        return cls(**{key: value for key, value in options.items() if key in fields and value is not None})

    def fraction(self, split: str) -> float:
        """The share of the items that `split` receives."""
        return {"val": self.val_fraction, "test": self.test_fraction}.get(
            split, 1.0 - self.val_fraction - self.test_fraction
        )

    def cache_folder(self) -> Path:
        """Where indexes are cached: data.cache_dir, else $XDG_CACHE_HOME/fusionvae_ros (~/.cache/fusionvae_ros)."""
        if self.cache_dir is not None:
            return Path(self.cache_dir).expanduser()
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / CACHE_SUBDIR


def split_of(key: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """The split of the item with stable `key` (module docstring)."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < test_fraction:
        return "test"
    return "val" if u < test_fraction + val_fraction else "train"


def select_split(keys: list[str], split: str, options: OwnDataOptions, what: str) -> list[int]:
    """Positions of the `keys` in `split`; DatasetError when that split is empty (too few items).

    `what` names the data and its unit of splitting, e.g. "image_folder DIR: 12 images".
    """
    chosen = [
        i
        for i, key in enumerate(keys)
        if split_of(key, options.split_seed, options.val_fraction, options.test_fraction) == split
    ]
    if not chosen:
        fraction = f"data.{split}_fraction = {options.fraction(split):g}" if split != "train" else "the rest"
        raise DatasetError(f"{what} leave the {split!r} split empty ({fraction}); add data or change the fractions")
    return chosen


def cache_path(options: OwnDataOptions, kind: str, source: Path) -> Path:
    """The cache file of index `kind` for the data at `source` (one per absolute path)."""
    name = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
    return options.cache_folder() / f"{kind}-{name}.json"


def read_cache(path: Path) -> dict[str, Any]:
    """A cached index, or {} when it is missing or unreadable (it is then rebuilt)."""
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def write_cache(path: Path, values: dict[str, Any]) -> None:
    """Store an index atomically; a read-only cache folder only costs the rebuild next time."""
    try:
        write_atomically(path, json.dumps(values).encode())
    except OSError as error:
        print(f"warning: cannot cache the data index at {path} ({error.strerror or error})", file=sys.stderr)


_announced: set[str] = set()


def announce(line: str) -> None:
    """Print a dataset's start-up line once per process (train and eval splits share it)."""
    if line not in _announced:
        _announced.add(line)
        print(line, flush=True)


def describe_skipped(names: list[str]) -> str:
    """'N unreadable skipped: a, b, c, …' (empty when none)."""
    if not names:
        return ""
    shown = ", ".join(names[:NAMES_SHOWN]) + (", …" if len(names) > NAMES_SHOWN else "")
    return f"; {len(names)} unreadable skipped: {shown}"


class FramedSource(ABC):
    """Targets decoded on demand by `load`, framed to the model size; a frame that fails to decode (changed on disk,
    damaged) is replaced by the next readable one with one warning, so a loader worker never dies of it."""

    def __init__(self, names: list[str], options: OwnDataOptions) -> None:
        """`names` label the items in warnings (paths, topic@stamp)."""
        self.names = names
        self.options = options
        self.image_size = options.image_size
        self.channels = options.channels
        self._warned: set[int] = set()

    def __len__(self) -> int:
        """Number of targets."""
        return len(self.names)

    @abstractmethod
    def load(self, index: int) -> np.ndarray:
        """Item `index` as uint8 [H,W,channels]; DatasetError if it cannot be decoded."""

    def framed(self, image: np.ndarray, augment_rng: np.random.Generator | None) -> np.ndarray:
        """A decoded image framed to float32 [C,size,size] in [0,1] by the resize mode."""
        return to_chw_float(frame_image(image, self.image_size, self.options.resize, augment_rng))

    def first_readable(self, index: int, read: Callable[[int], T]) -> T:
        """`read(index)`, or of the next position that reads without DatasetError (warned once per position)."""
        for offset in range(len(self)):
            position = (index + offset) % len(self)
            try:
                return read(position)
            except DatasetError as error:
                if position not in self._warned:
                    self._warned.add(position)
                    print(f"warning: skipping {error}", file=sys.stderr, flush=True)
        raise DatasetError(f"none of the {len(self)} items can be decoded any more")

    def target(self, index: int, augment_rng: np.random.Generator | None) -> np.ndarray:
        """Item `index` (or the next readable one) framed to float32 [C,size,size] in [0,1]."""
        return self.first_readable(index, lambda position: self.framed(self.load(position), augment_rng))
