"""`image_folder` dataset: every PNG/JPEG/BMP/TIFF under a folder tree (any case of extension) as targets.

Images may have any size and mode (grey, RGB, RGBA: alpha is dropped; 16-bit is scaled to 8-bit); they are
converted to the model's channels (colour → grey by luminance) and framed to the model size by `data.resize`
(see framing.py). The split is the hashed one of own_data.py on the path relative to the folder.

At start-up every file is opened and fully decoded once (JPEG at reduced scale) to find unreadable or truncated
files; they are skipped and named in one line. The result is cached per file (size and modification time) in
the cache folder, so a second run, or a run after adding files, only checks new and changed files.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.framing import RANDOM_CROP_SCALE
from fusionvae_core.data.own_data import (
    FramedSource,
    OwnDataOptions,
    announce,
    cache_path,
    describe_skipped,
    read_cache,
    select_split,
    write_cache,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
PROBE_SIZE = 64  # JPEGs are decoded at the smallest DCT scale keeping this many pixels: cheap, still complete
_REDUCED_FLAGS = {  # (channels, factor) -> cv2.imread flag decoding at 1/factor (libjpeg DCT scaling for JPEG)
    (1, 1): cv2.IMREAD_GRAYSCALE,
    (1, 2): cv2.IMREAD_REDUCED_GRAYSCALE_2,
    (1, 4): cv2.IMREAD_REDUCED_GRAYSCALE_4,
    (1, 8): cv2.IMREAD_REDUCED_GRAYSCALE_8,
    (3, 1): cv2.IMREAD_COLOR,
    (3, 2): cv2.IMREAD_REDUCED_COLOR_2,
    (3, 4): cv2.IMREAD_REDUCED_COLOR_4,
    (3, 8): cv2.IMREAD_REDUCED_COLOR_8,
}


@dataclass(frozen=True)
class FolderIndex:
    """The readable images of a folder (relative paths, sorted, with their width × height) and the unreadable."""

    root: Path
    keys: list[str]
    sizes: list[tuple[int, int]]
    unreadable: list[str]

    def describe(self) -> str:
        """The start-up line: counts, image sizes, skipped files."""
        sizes = Counter(self.sizes)
        (width, height), count = sizes.most_common(1)[0]
        mixed = f"{len(sizes)} sizes (most: {width}x{height}, {count})" if len(sizes) > 1 else f"{width}x{height}"
        return f"image_folder {self.root}: {len(self.keys)} images, {mixed}{describe_skipped(self.unreadable)}"


def find_images(root: Path) -> list[str]:
    """Relative paths (sorted, '/'-separated) of the image files under `root`; DatasetError if none or no folder."""
    looked_for = f"{', '.join(IMAGE_SUFFIXES)} files in any case, in all sub-folders"
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder (data.data_root of image_folder: a folder with {looked_for})")
    found = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    )
    if not found:
        raise DatasetError(f"{root}: no images found (looked for {looked_for})")
    return found


def probe_image(path: Path) -> tuple[int, int] | None:
    """(width, height) of an image file that decodes completely, or None (unreadable, truncated, not an image)."""
    try:
        with warnings.catch_warnings(), Image.open(path) as image:
            warnings.simplefilter("ignore")
            size = image.size
            image.draft(None, (PROBE_SIZE, PROBE_SIZE))
            image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return size if size[0] > 0 and size[1] > 0 else None


def index_folder(root: Path, options: OwnDataOptions) -> FolderIndex:
    """Find and check every image under `root` (checks cached per file); prints the start-up line once."""
    paths = find_images(root)
    cache_file = cache_path(options, "image_folder", root)
    cached = read_cache(cache_file)
    entries: dict[str, list[int]] = {}
    for key in paths:
        stat = (root / key).stat()
        entry = cached.get(key)
        if not (isinstance(entry, list) and entry[:2] == [stat.st_size, stat.st_mtime_ns]):
            size = probe_image(root / key) or (0, 0)
            entry = [stat.st_size, stat.st_mtime_ns, *size]
        entries[key] = entry
    if entries != cached:
        write_cache(cache_file, entries)
    readable = [key for key in paths if entries[key][2] > 0]
    index = FolderIndex(
        root,
        readable,
        [(entries[key][2], entries[key][3]) for key in readable],
        [key for key in paths if entries[key][2] == 0],
    )
    if not readable:
        raise DatasetError(f"{root}: none of the {len(paths)} image files can be read{describe_skipped(paths)}")
    announce(index.describe())
    return index


def reduction_flag(width: int, height: int, options: OwnDataOptions) -> int:
    """cv2.imread flag: the model's channels at the largest 1/2, 1/4, 1/8 scale that still covers the model size."""
    needed = options.image_size / (RANDOM_CROP_SCALE[0] if options.resize == "random_crop" else 1.0)
    factor = next((f for f in (8, 4, 2) if min(width, height) / f >= needed), 1)
    return _REDUCED_FLAGS[(options.channels, factor)]


class FolderSource(FramedSource):
    """The images of one split of a folder, decoded on demand at the model's channels."""

    def __init__(self, root: Path, split: str, options: OwnDataOptions) -> None:
        """Index `root` and keep the images of `split`."""
        index = index_folder(root, options)
        chosen = select_split(index.keys, split, options, f"image_folder {root}: {len(index.keys)} images")
        super().__init__([index.keys[i] for i in chosen], options)
        self.root = root
        self.flags = [reduction_flag(*index.sizes[i], options) for i in chosen]

    def load(self, index: int) -> np.ndarray:
        """Image `index` as uint8 [H,W,channels] (RGB or grey)."""
        path = self.root / self.names[index]
        image = cv2.imread(str(path), self.flags[index])
        if image is None:
            raise DatasetError(f"{path}: cannot be decoded any more (changed since the start-up check?)")
        if self.channels == 1:
            return image.reshape(*image.shape[:2], 1)
        return np.ascontiguousarray(image[:, :, ::-1])
