"""Reader for IDX image files (the MNIST / Fashion-MNIST format), gzipped or raw.

Layout of an IDX file: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, one
big-endian uint32 per dimension, then the data in C order.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from fusionvae_core.data.errors import DatasetError

UNSIGNED_BYTE_CODE = 0x08


def find_idx_file(root: Path, stem: str) -> Path | None:
    """Return `root/stem.gz` or `root/stem` (first that exists), or None."""
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx_images(path: Path) -> np.ndarray:
    """Read an IDX3 unsigned-byte file into a uint8 array [N, rows, cols]; DatasetError if it is not one."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DatasetError(f"{path}: cannot read ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != UNSIGNED_BYTE_CODE or raw[3] != 3:
        raise DatasetError(f"{path}: not an IDX3 unsigned-byte image file (expected header 00 00 08 03)")
    header_size = 4 + 4 * 3
    if len(raw) < header_size:
        raise DatasetError(f"{path}: IDX header is truncated")
    count, rows, cols = (int(v) for v in np.frombuffer(raw, dtype=">u4", count=3, offset=4))
    expected = header_size + count * rows * cols
    if len(raw) != expected:
        raise DatasetError(f"{path}: {len(raw)} bytes, but the header ({count}×{rows}×{cols}) implies {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(count, rows, cols).copy()
