"""Run-time statistics of the fusion node and their /diagnostics report.

Counters (views per camera, sets per K, drops per reason) are cumulative since start; rates cover the last report
period; latency percentiles cover the last ``LATENCY_WINDOW`` fused sets. The last set's cameras and view stamps (with
its views' ages behind the newest) say which views, or with the temporal source which frames, it holds. Thread-safe:
subscription callbacks and the inference worker both record into one instance.

Level: ERROR when no camera sent anything for ``silent_timeout`` seconds (since start or since the last view),
WARN when some camera did not, or when drops made up more than ``max_drop_fraction`` of the drops plus fused sets
of the last period; OK otherwise. The message says which, so a diagnostic aggregator shows the cause.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from fusionvae_core.frame_selection import MAX_VIEWS

LATENCY_WINDOW = 1000


class FusionStats:
    """Counts what the node received, fused, published and dropped, and when it last warned about each drop."""

    def __init__(
        self,
        num_cameras: int,
        warn_period: float = 5.0,
        silent_timeout: float = 2.0,
        max_drop_fraction: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.num_cameras = num_cameras
        self.warn_period = warn_period
        self.silent_timeout = silent_timeout
        self.max_drop_fraction = max_drop_fraction
        self._clock = clock
        self._lock = threading.Lock()
        self._views = [0] * num_cameras
        self._last_view = [clock()] * num_cameras  # start counts as the last sign of life: silence is timed from it
        self._sets_by_k: Counter[int] = Counter()
        self._drops: Counter[str] = Counter()
        self._sets_published = 0
        self._hypotheses_published = 0
        self._last_cameras: tuple[int, ...] = ()
        self._last_stamps: tuple[int, ...] = ()
        self._latency: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._backend: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._compositing: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._last_warned: dict[str, float] = {}
        self._last_report = (clock(), 0, 0, 0)  # time, views, sets published, drops

    def record_view(self, camera: int) -> None:
        """A message arrived on camera ``camera``'s topic."""
        now = self._clock()
        with self._lock:
            self._views[camera] += 1
            self._last_view[camera] = now

    def record_set(self, cameras: tuple[int, ...], stamps: tuple[int, ...]) -> None:
        """The view source emitted a set of views from ``cameras`` stamped ``stamps`` (ns; K = len(cameras))."""
        with self._lock:
            self._sets_by_k[len(cameras)] += 1
            self._last_cameras, self._last_stamps = cameras, stamps

    def record_drop(self, reason: str, count: int = 1) -> bool:
        """Count dropped views/sets; True when this reason has not been warned about within ``warn_period``."""
        now = self._clock()
        with self._lock:
            self._drops[reason] += count
            if now - self._last_warned.get(reason, -float("inf")) < self.warn_period:
                return False
            self._last_warned[reason] = now
            return True

    def record_published(
        self, num_hypotheses: int, latency_s: float, backend_s: float, compositing_s: float = 0.0
    ) -> None:
        """A set was fused and published: ``latency_s`` from its last view's arrival, ``backend_s`` inside infer,
        ``compositing_s`` blending the views in."""
        with self._lock:
            self._sets_published += 1
            self._hypotheses_published += num_hypotheses
            self._latency.append(latency_s)
            self._backend.append(backend_s)
            self._compositing.append(compositing_s)

    def drops(self) -> dict[str, int]:
        """Cumulative drops by reason."""
        with self._lock:
            return dict(self._drops)

    def report(self, name: str, hardware_id: str, extra: dict[str, object] | None = None) -> DiagnosticStatus:
        """A DiagnosticStatus with all counters, rates over the period since the last report and percentiles."""
        now = self._clock()
        with self._lock:
            views, drops_total = sum(self._views), sum(self._drops.values())
            last_time, last_views, last_sets, last_drops = self._last_report
            period = max(now - last_time, 1e-9)
            values: dict[str, object] = {
                "rate_views_hz": (views - last_views) / period,
                "rate_sets_hz": (self._sets_published - last_sets) / period,
                "sets_published": self._sets_published,
                "hypotheses_published": self._hypotheses_published,
                "last_set_cameras": ",".join(str(camera) for camera in self._last_cameras),
                "last_set_stamps": ",".join(str(stamp) for stamp in self._last_stamps),
                "last_set_ages_ms": ",".join(
                    f"{(max(self._last_stamps) - stamp) / 1e6:.1f}" for stamp in self._last_stamps
                ),
                "drops_total": drops_total,
            }
            values.update({f"views_received_cam{camera}": count for camera, count in enumerate(self._views)})
            values.update({f"sets_k{k}": self._sets_by_k[k] for k in range(1, MAX_VIEWS + 1)})
            values.update({f"drops_{reason}": count for reason, count in sorted(self._drops.items())})
            values.update(_percentiles_ms("latency_ms", self._latency))
            values.update(_percentiles_ms("backend_ms", self._backend))
            values.update(_percentiles_ms("compositing_ms", self._compositing))
            overhead = [total - backend for total, backend in zip(self._latency, self._backend)]
            values.update(_percentiles_ms("overhead_ms", overhead))
            silent = {camera: now - last for camera, last in enumerate(self._last_view)}
            new_drops, new_sets = drops_total - last_drops, self._sets_published - last_sets
            self._last_report = (now, views, self._sets_published, drops_total)
        values.update(extra or {})
        level, message = self._level(silent, new_drops, new_sets, period)
        if level == DiagnosticStatus.OK:
            message = f"fusing at {values['rate_sets_hz']:.1f} sets/s"
        return DiagnosticStatus(
            level=level,
            name=name,
            message=message,
            hardware_id=hardware_id,
            values=[KeyValue(key=key, value=_format(value)) for key, value in values.items()],
        )

    def _level(self, silent: dict[int, float], new_drops: int, new_sets: int, period: float) -> tuple[bytes, str]:
        """The status level and why: silent cameras (seconds since their last view) and the period's drop share."""
        problems: list[tuple[bytes, str]] = []
        quiet = {camera: seconds for camera, seconds in silent.items() if seconds >= self.silent_timeout}
        if len(quiet) == self.num_cameras:
            problems.append((DiagnosticStatus.ERROR, f"no camera input for {min(quiet.values()):.1f} s"))
        elif quiet:
            cameras = ", ".join(f"{camera} ({seconds:.1f} s)" for camera, seconds in sorted(quiet.items()))
            problems.append((DiagnosticStatus.WARN, f"silent camera(s): {cameras}"))
        if new_drops and new_drops / (new_drops + new_sets) > self.max_drop_fraction:
            problems.append(
                (
                    DiagnosticStatus.WARN,
                    f"{new_drops} views/sets dropped vs {new_sets} sets fused in the last {period:.1f} s "
                    f"(more than {self.max_drop_fraction:.0%})",
                )
            )
        if not problems:
            return DiagnosticStatus.OK, ""
        return max(level for level, _ in problems), "; ".join(text for _, text in problems)


def _percentiles_ms(prefix: str, samples_s: deque[float] | list[float]) -> dict[str, float]:
    """p50/p90/p99/max of a window of durations in milliseconds (empty dict without samples)."""
    if not samples_s:
        return {}
    p50, p90, p99 = np.percentile(np.asarray(samples_s) * 1e3, [50, 90, 99])
    return {f"{prefix}_p50": p50, f"{prefix}_p90": p90, f"{prefix}_p99": p99, f"{prefix}_max": max(samples_s) * 1e3}


def _format(value: object) -> str:
    """KeyValue text: floats with 3 decimals, everything else via str()."""
    return f"{value:.3f}" if isinstance(value, float | np.floating) else str(value)
