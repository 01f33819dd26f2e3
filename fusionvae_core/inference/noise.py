"""Standard-normal latent noise drawn with numpy, so every backend sees the same noise for the same seed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def draw_noise(latent_shapes: Sequence[tuple[int, int, int]], rows: int, seed: int | None) -> list[np.ndarray]:
    """One float32 [rows, C, h, w] array per latent group (coarse -> fine) from ``numpy.random.default_rng(seed)``.

    Rows are ordered b·S + s (example b, hypothesis s), the layout of the exported graph's noise inputs.
    """
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((rows, *shape), dtype=np.float32) for shape in latent_shapes]
