"""Which frames of a fixed camera's recent window to fuse with its newest frame: the node's temporal view source and
the fusion_tabletop_arm dataset's val/test items pick them with this one function, so offline metrics measure what
the node fuses.

Rule ("oldest + change cover"): view 0 is the newest frame; view 1 the oldest frame of the window (the arm has moved
furthest since); view 2 the frame that changed most of the newest frame's pixels that the oldest left unchanged, i.e.
the frame that adds most new evidence about what the newest frame shows differently. A pixel changed when a channel
differs from the newest frame by more than CHANGE_THRESHOLD (out of 255: above camera noise and JPEG artefacts).
bench/frame_selection.py chose it on rendered arm sequences (results/bench_frame_selection.txt): of the newest
frame's arm-hidden pixels it shows more than evenly spaced frames or the frames that differ most from the newest,
close to the best pair picked with the visibility labels. NumPy only (no torch, no ROS): deterministic for a given
window, ties go to the older frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_VIEWS = 3  # the model fuses up to 3 views
CHANGE_THRESHOLD = 16


def changed_pixels(frames: np.ndarray, newest: np.ndarray, threshold: int = CHANGE_THRESHOLD) -> np.ndarray:
    """bool [..., H, W]: where ``frames`` (uint8 [..., H, W, C]) differ from ``newest`` (uint8 [H, W, C]) by more
    than ``threshold`` in some channel."""
    exceeds = np.maximum(frames, newest) - np.minimum(frames, newest) > threshold  # |a - b| without leaving uint8
    changed = exceeds[..., 0]
    for channel in range(1, exceeds.shape[-1]):  # per channel: numpy reduces a short last axis ~20x slower
        changed = changed | exceeds[..., channel]
    return changed


def select_frames(frames: Sequence[np.ndarray] | np.ndarray, threshold: int = CHANGE_THRESHOLD) -> list[int]:
    """Indices into ``frames`` (uint8 [H, W, C] each, oldest first, the last one newest) of the views to fuse, newest
    first: up to MAX_VIEWS distinct frames, all of them when there are fewer (the module doc gives the rule)."""
    count = len(frames)
    if count == 0:
        raise ValueError("select_frames needs at least one frame")
    newest = count - 1
    if count <= MAX_VIEWS:
        return [newest, *range(newest)]
    changed = changed_pixels(np.asarray(frames[:newest]), np.asarray(frames[newest]), threshold)
    gains = np.count_nonzero(changed[1:] & ~changed[0], axis=(1, 2))  # beyond what the oldest frame (0) changed
    return [newest, 0, 1 + int(np.argmax(gains))]  # argmax: the first, i.e. oldest, of equal gains
