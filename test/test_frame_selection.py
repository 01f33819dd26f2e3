"""Frame selection (fusionvae_core.frame_selection): which earlier frames the temporal source and the arm dataset fuse
with the newest one."""

from __future__ import annotations

import numpy as np
import pytest

from fusionvae_core.frame_selection import CHANGE_THRESHOLD, MAX_VIEWS, changed_pixels, select_frames

SIZE = 16


def arm_over(column: int, channels: int = 3) -> np.ndarray:
    """A grey table with a dark vertical bar (the arm) 4 pixels wide starting at ``column``."""
    frame = np.full((SIZE, SIZE, channels), 150, np.uint8)
    frame[:, column : column + 4] = 20
    return frame


def test_one_frame_fuses_alone_and_small_windows_fuse_every_frame_newest_first() -> None:
    assert select_frames([arm_over(0)]) == [0]
    assert select_frames([arm_over(0), arm_over(4)]) == [1, 0]
    assert select_frames([arm_over(0), arm_over(4), arm_over(8)]) == [2, 0, 1]
    with pytest.raises(ValueError, match="at least one frame"):
        select_frames([])


@pytest.mark.parametrize("count", range(1, 12))
def test_picks_are_distinct_newest_first_and_never_the_newest_twice(count: int) -> None:
    rng = np.random.default_rng(count)
    frames = [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(count)]
    picks = select_frames(frames)
    assert picks[0] == count - 1 and picks.count(count - 1) == 1
    assert len(picks) == len(set(picks)) == min(count, MAX_VIEWS)
    assert all(0 <= pick < count for pick in picks)


def test_deterministic_for_a_window_as_a_list_or_an_array() -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(9)]
    first = select_frames(frames)
    assert select_frames(frames) == first == select_frames(np.stack(frames))
    assert select_frames([frame.copy() for frame in frames]) == first


def test_third_view_shows_most_of_what_the_newest_changed_beyond_the_oldest() -> None:
    # the arm sweeps right; the oldest frame (bar at 0) and frame 3 (bar at 12) together uncover all that the newest
    # (bar at 4) hides, and frame 3 changes the newest frame's pixels most where the oldest did not
    frames = [arm_over(0), arm_over(2), arm_over(6), arm_over(12), arm_over(5), arm_over(4)]
    assert select_frames(frames) == [5, 0, 3]


def test_equal_gains_go_to_the_older_frame() -> None:
    still = arm_over(6)
    assert select_frames([still] * 7) == [6, 0, 1]


def test_grey_frames_and_a_change_below_the_threshold() -> None:
    frames = [arm_over(0, channels=1), arm_over(8, channels=1), arm_over(4, channels=1)]
    assert select_frames([*frames, arm_over(8, channels=1)]) == [3, 0, 2]
    newest = arm_over(4)
    faint = newest.copy()
    faint[0, 0, 2] += CHANGE_THRESHOLD  # not more than the threshold: unchanged
    faint[1, 1, 1] -= CHANGE_THRESHOLD + 1
    changed = changed_pixels(np.stack([faint]), newest)
    assert changed.shape == (1, SIZE, SIZE) and np.argwhere(changed).tolist() == [[0, 1, 1]]
