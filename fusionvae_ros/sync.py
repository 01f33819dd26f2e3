"""View synchroniser: groups camera views whose stamps lie within a slop into fused sets, partial ones included.

ROS's message_filters only ever emits complete sets; FusionVAE works with any K of the cameras, so a set with
missing views is emitted once the missing ones have been waited for long enough. Pure Python, no rclpy: every
call takes the current time explicitly (nanoseconds), so tests are deterministic and ROS sim time just works.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

NS_PER_S = 1_000_000_000
POLL_PERIOD_S = 0.005  # how often the live node polls for partial sets (bounds their extra latency)

#: Why the synchroniser discarded a view (reported through ``on_drop``).
DROP_OVERFLOW = "sync_overflow"  # its camera's buffer was full; the oldest view made room
DROP_LATE = "sync_late"  # not newer than the last emitted set: emitting it would reorder the output
DROP_SUPERSEDED = "sync_superseded"  # a newer set was emitted while it still waited for its partners
DROP_RESET = "sync_reset"  # buffered when the stamps jumped backwards


@dataclass(frozen=True)
class View:
    """One buffered camera message: camera index, header stamp, receipt time and the caller's payload."""

    camera: int
    stamp_ns: int
    received_ns: int
    payload: Any


@dataclass(frozen=True)
class ViewSet:
    """A group of views and when it became due. From the synchroniser: one view per camera at most, sorted by camera,
    stamps within the slop, due at its last view's receipt if complete, else once its longest-waiting view had waited
    max_wait. From the temporal source: frames of one camera, newest first, due at the newest frame's receipt."""

    views: tuple[View, ...]
    complete: bool
    due_ns: int

    @property
    def cameras(self) -> tuple[int, ...]:
        """Indices of the cameras that contributed a view."""
        return tuple(view.camera for view in self.views)

    @property
    def newest(self) -> View:
        """The view with the newest stamp: it stamps the fused output."""
        return max(self.views, key=lambda view: view.stamp_ns)

    @property
    def spread_ns(self) -> int:
        """Newest minus oldest stamp of the set."""
        return _spread_ns(self.views)


class SyncTiming(Protocol):
    """The run-time parameters the synchroniser follows (NodeSettings has them)."""

    slop: float
    max_wait: float


def _no_drop_report(reason: str, view: View) -> None:
    """Default ``on_drop``: discard silently."""


class ViewSynchroniser:
    """Buffers views per camera and emits sets: complete ones at once, partial ones after ``max_wait``.

    Rules: all stamps of a set lie within ``slop`` of each other; each view is used at most once; emitted sets
    have strictly increasing newest stamps; each camera buffers at most ``queue_size`` views; a view stamped
    more than ``reset_jump`` before the newest stamp seen clears everything (a bag loop or a restarted clock).
    """

    def __init__(
        self,
        num_cameras: int,
        slop: float,
        max_wait: float,
        queue_size: int = 10,
        reset_jump: float = 1.0,
        on_drop: Callable[[str, View], None] = _no_drop_report,
    ) -> None:
        if num_cameras < 1:
            raise ValueError(f"num_cameras must be >= 1, got {num_cameras}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.num_cameras = num_cameras
        self.queue_size = queue_size
        self.set_slop(slop)
        self.set_max_wait(max_wait)
        self.reset_jump_ns = round(reset_jump * NS_PER_S)
        self.on_drop = on_drop
        self.resets = 0
        self.poll_period_s = POLL_PERIOD_S
        self._buffers: list[deque[View]] = [deque() for _ in range(num_cameras)]
        self._last_emitted_ns: int | None = None
        self._newest_seen_ns: int | None = None

    def set_slop(self, slop: float) -> None:
        """Change the largest allowed stamp difference within a set (seconds)."""
        if slop < 0:
            raise ValueError(f"slop must be >= 0 s, got {slop}")
        self.slop_ns = round(slop * NS_PER_S)

    def set_max_wait(self, max_wait: float) -> None:
        """Change how long views wait for their missing partners before a partial set is emitted (seconds)."""
        if max_wait < 0:
            raise ValueError(f"max_wait must be >= 0 s, got {max_wait}")
        self.max_wait_ns = round(max_wait * NS_PER_S)

    def apply_settings(self, timing: SyncTiming) -> None:
        """Follow run-time changes of slop and max_wait."""
        self.set_slop(timing.slop)
        self.set_max_wait(timing.max_wait)

    def buffered(self) -> int:
        """Number of views waiting in the buffers."""
        return sum(len(buffer) for buffer in self._buffers)

    def add(self, camera: int, stamp_ns: int, payload: Any, now_ns: int) -> list[ViewSet]:
        """Buffer one view received at ``now_ns``; return the sets that became ready (oldest first)."""
        if not 0 <= camera < self.num_cameras:
            raise ValueError(f"camera index {camera} out of range 0..{self.num_cameras - 1}")
        view = View(camera, stamp_ns, now_ns, payload)
        if self._newest_seen_ns is not None and stamp_ns < self._newest_seen_ns - self.reset_jump_ns:
            self.reset()
        self._newest_seen_ns = stamp_ns if self._newest_seen_ns is None else max(self._newest_seen_ns, stamp_ns)
        ready = self.poll(now_ns)  # sets that were due before this view arrived go out first, without it
        if self._last_emitted_ns is not None and stamp_ns <= self._last_emitted_ns:
            self.on_drop(DROP_LATE, view)
            return ready
        buffer = self._buffers[camera]
        if len(buffer) >= self.queue_size:
            self.on_drop(DROP_OVERFLOW, buffer.popleft())
        buffer.append(view)
        complete = self._complete_set_with(view)
        if complete is not None:
            ready.append(self._emit(complete, now_ns))
        return ready

    def poll(self, now_ns: int) -> list[ViewSet]:
        """Emit partial sets until no buffered view has waited ``max_wait`` by ``now_ns`` (oldest first).

        Each set is built around the longest-waiting view, joined by whatever partners lie within slop.
        """
        ready: list[ViewSet] = []
        while True:
            pending = [view for buffer in self._buffers for view in buffer]
            if not pending:
                return ready
            longest_waiting = min(pending, key=lambda view: (view.received_ns, view.stamp_ns, view.camera))
            if now_ns - longest_waiting.received_ns < self.max_wait_ns:
                return ready
            ready.append(
                self._emit(self._best_set_with(longest_waiting), longest_waiting.received_ns + self.max_wait_ns)
            )

    def flush(self) -> list[ViewSet]:
        """At the end of the input: every buffered view's set, as each would fall due (oldest first)."""
        return self.poll(2**63 - 1)

    def reset(self) -> None:
        """Forget every buffered view and the output order (counted in ``resets``)."""
        for buffer in self._buffers:
            for view in buffer:
                self.on_drop(DROP_RESET, view)
            buffer.clear()
        self._last_emitted_ns = None
        self._newest_seen_ns = None
        self.resets += 1

    def _candidates(self, anchor: View) -> list[list[View]]:
        """Per camera, the buffered views within slop of ``anchor`` (only the anchor itself for its camera)."""
        return [
            [anchor]
            if camera == anchor.camera
            else [view for view in buffer if abs(view.stamp_ns - anchor.stamp_ns) <= self.slop_ns]
            for camera, buffer in enumerate(self._buffers)
        ]

    def _complete_set_with(self, anchor: View) -> tuple[View, ...] | None:
        """The tightest complete set containing ``anchor``, if the buffers hold one."""
        best = None
        for combo in itertools.product(*self._candidates(anchor)):
            spread = _spread_ns(combo)
            if spread <= self.slop_ns and (best is None or spread < _spread_ns(best)):
                best = combo
        return best

    def _best_set_with(self, anchor: View) -> tuple[View, ...]:
        """The largest (then tightest) set containing ``anchor``; missing cameras are allowed."""
        options = [
            views if camera == anchor.camera else [None, *views]
            for camera, views in enumerate(self._candidates(anchor))
        ]
        best: tuple[View, ...] = (anchor,)
        for combo in itertools.product(*options):
            views = tuple(view for view in combo if view is not None)
            if _spread_ns(views) > self.slop_ns:
                continue
            if (len(views), -_spread_ns(views)) > (len(best), -_spread_ns(best)):
                best = views
        return best

    def _emit(self, views: tuple[View, ...], due_ns: int) -> ViewSet:
        """Remove the set's views from the buffers, drop views it makes stale, and return the set (due at due_ns)."""
        for view in views:
            self._buffers[view.camera].remove(view)
        newest_ns = max(view.stamp_ns for view in views)
        self._last_emitted_ns = newest_ns
        for buffer in self._buffers:
            stale = [view for view in buffer if view.stamp_ns <= newest_ns]
            for view in stale:
                buffer.remove(view)
                self.on_drop(DROP_SUPERSEDED, view)
        ordered = tuple(sorted(views, key=lambda view: view.camera))
        return ViewSet(ordered, complete=len(ordered) == self.num_cameras, due_ns=due_ns)


def _spread_ns(views: tuple[View, ...]) -> int:
    """Newest minus oldest stamp of a group of views."""
    stamps = [view.stamp_ns for view in views]
    return max(stamps) - min(stamps)
