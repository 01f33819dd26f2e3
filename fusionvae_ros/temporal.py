"""Temporal view source: one fixed camera, its newest frame fused with earlier frames of a bounded ring buffer.

A fixed camera's consecutive frames are pixel-aligned by construction, so while the robot's arm (or a hand) moves
through the picture they are the partially occluded views of one scene that FusionVAE fuses. Rules, in stamp order:

- only frames the pipeline accepted arrive here (bad input never enters the buffer);
- the buffer keeps the frames stamped at most ``window`` s before the newest, and at most ``max_frames`` of them;
- a frame is fused when it is the first whose stamp reaches the next point of a 1/``fusion_rate`` grid (anchored
  at the first frame fused since the buffer was last empty; rate 0: every frame): so a 30 Hz camera gives exactly
  ``fusion_rate`` sets per second, jitter or not. Its set is the frames ``select_frames`` picks, newest first;
- a stamp more than ``reset_jump`` before the newest resets the buffer (a bag loop); any other stamp not newer than
  the newest is dropped (``temporal_late``), so buffer and outputs stay in stamp order;
- after ``window`` s without a frame (the adapter's clock, ``poll``) the buffer empties: a stale frame is never fused.

Decisions follow the stamps, so the live node and ``bag process`` form the same sets from the same frames. Pure
Python and NumPy, no rclpy; times in nanoseconds, passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from fusionvae_core.frame_selection import MAX_VIEWS, select_frames
from fusionvae_ros.sync import NS_PER_S, View, ViewSet

DROP_LATE = "temporal_late"  # not newer than the newest buffered frame (and no bag loop)
POLLS_PER_WINDOW = 10  # how often per window the adapter checks for a silent camera


class TemporalTiming(Protocol):
    """The run-time parameters the temporal source follows (NodeSettings has them)."""

    fusion_rate: float


class TemporalSource:
    """The ring buffer of one camera's recent frames and the sets fused from it (module doc).

    ``image(payload)`` gives a buffered frame's pixels at the model's resolution (uint8 [H, W, C]), which
    ``select_frames`` compares.
    """

    def __init__(
        self,
        window: float,
        max_frames: int,
        fusion_rate: float,
        reset_jump: float,
        image: Callable[[Any], np.ndarray],
        on_drop: Callable[[str, View], None],
    ) -> None:
        if window <= 0 or max_frames < 1:
            raise ValueError(f"window must be > 0 s and max_frames >= 1, got {window} s and {max_frames}")
        self.window_ns = round(window * NS_PER_S)
        self.max_frames = max_frames
        self.reset_jump_ns = round(reset_jump * NS_PER_S)
        self.poll_period_s = window / POLLS_PER_WINDOW
        self.set_fusion_rate(fusion_rate)
        self.image = image
        self.on_drop = on_drop
        self.resets = 0
        self._frames: deque[View] = deque()
        self._next_due_ns: int | None = None  # grid point the next fused frame must reach; None: fuse the next one

    def set_fusion_rate(self, fusion_rate: float) -> None:
        """Change the most sets fused per second (0: every frame)."""
        if fusion_rate < 0:
            raise ValueError(f"fusion_rate must be >= 0 Hz, got {fusion_rate}")
        self.period_ns = round(NS_PER_S / fusion_rate) if fusion_rate else 0

    def apply_settings(self, timing: TemporalTiming) -> None:
        """Follow run-time changes of fusion_rate."""
        self.set_fusion_rate(timing.fusion_rate)

    def buffered(self) -> int:
        """Frames in the buffer."""
        return len(self._frames)

    def add(self, camera: int, stamp_ns: int, payload: Any, now_ns: int) -> list[ViewSet]:
        """Buffer one frame received at ``now_ns``; the set fused around it, if one is due."""
        self.poll(now_ns)
        frame = View(camera, stamp_ns, now_ns, payload)
        if self._frames:
            newest_ns = self._frames[-1].stamp_ns
            if stamp_ns < newest_ns - self.reset_jump_ns:
                self.reset()
            elif stamp_ns <= newest_ns:
                self.on_drop(DROP_LATE, frame)
                return []
        while self._frames and self._frames[0].stamp_ns < stamp_ns - self.window_ns:
            self._frames.popleft()
        if not self._frames:
            self._next_due_ns = None  # as after a silent camera: a new grid starts with this frame
        self._frames.append(frame)
        while len(self._frames) > self.max_frames:
            self._frames.popleft()
        if not self._due(stamp_ns):
            return []
        frames = list(self._frames)
        picks = select_frames([self.image(view.payload) for view in frames])
        return [ViewSet(tuple(frames[pick] for pick in picks), complete=len(picks) == MAX_VIEWS, due_ns=now_ns)]

    def poll(self, now_ns: int) -> list[ViewSet]:
        """Empty the buffer once the newest frame was received ``window`` s ago or longer; never a set."""
        if self._frames and now_ns - self._frames[-1].received_ns >= self.window_ns:
            self._frames.clear()
            self._next_due_ns = None
        return []

    def flush(self) -> list[ViewSet]:
        """At the end of the input: nothing waits (sets are fused as their newest frame arrives)."""
        return []

    def reset(self) -> None:
        """Forget every buffered frame and the fusion grid (counted in ``resets``)."""
        self._frames.clear()
        self._next_due_ns = None
        self.resets += 1

    def _due(self, stamp_ns: int) -> bool:
        """Whether the frame stamped ``stamp_ns`` is fused; if so, move the grid past it."""
        if self._next_due_ns is not None and stamp_ns < self._next_due_ns:
            return False
        if self.period_ns:
            anchor = stamp_ns if self._next_due_ns is None else self._next_due_ns
            self._next_due_ns = anchor + ((stamp_ns - anchor) // self.period_ns + 1) * self.period_ns
        return True
