"""One guard for every callback, timer and the worker of the node: no exception ever escapes into the executor.

An exception escaping a callback ends ``rclpy.spin`` and with it the node, so one malformed camera message could
stop a robot's perception. Every entry point the executor or the worker thread calls is wrapped by
``CallbackGuard.wrap``: input the node refuses on purpose raises ``RejectedInputError`` (counted under its own reason),
anything unexpected is counted under the entry point's reason; both go to the node's drop counter, which warns
(throttled) and reports the counts in /diagnostics.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol

from fusionvae_core.image_codec import RejectedInputError

NANOSECONDS_PER_SECOND = 1_000_000_000
STAMP_INVALID = "stamp_invalid"


class StampLike(Protocol):
    """builtin_interfaces/Time, or anything with its two fields."""

    sec: int
    nanosec: int


def stamp_nanoseconds(stamp: StampLike) -> int:
    """A header stamp in nanoseconds; RejectedInputError('stamp_invalid') for negative or out-of-range fields.

    rclpy's Time.from_msg raises ValueError for a negative ``sec`` and accepts a ``nanosec`` of a second or more,
    which builtin_interfaces/Time forbids; both are a camera driver bug and get a drop reason of their own.
    """
    if stamp.sec < 0:
        raise RejectedInputError(STAMP_INVALID, f"negative stamp sec={stamp.sec} (nanosec={stamp.nanosec})")
    if not 0 <= stamp.nanosec < NANOSECONDS_PER_SECOND:
        raise RejectedInputError(STAMP_INVALID, f"stamp nanosec={stamp.nanosec} outside [0, 1e9) (sec={stamp.sec})")
    return stamp.sec * NANOSECONDS_PER_SECOND + stamp.nanosec


def one_line(error: BaseException) -> str:
    """An exception's message collapsed onto one line (its type name when the message is empty)."""
    return " ".join(str(error).split()) or type(error).__name__


class CallbackGuard:
    """Runs callbacks so that every exception becomes a counted, throttled drop instead of a dead node.

    ``drop(reason, detail)`` counts and logs; it is the node's one drop path (FusionStats + throttled warning).
    """

    def __init__(self, drop: Callable[[str, str], None]) -> None:
        self._drop = drop

    def wrap(self, reason: str, callback: Callable[..., Any], where: str = "") -> Callable[..., None]:
        """``callback`` guarded: RejectedInputError counts under its own reason, other errors under ``reason``.

        ``where`` (e.g. the camera and its topic) prefixes the logged detail.
        """
        prefix = f"{where}: " if where else ""

        def guarded(*args: Any) -> None:
            try:
                callback(*args)
            except RejectedInputError as rejected:
                self._report(rejected.reason, f"{prefix}{rejected}")
            except Exception as error:  # the guard's whole point: nothing reaches the executor or kills the worker
                self._report(reason, f"{prefix}{type(error).__name__}: {one_line(error)}")

        return guarded

    def _report(self, reason: str, detail: str) -> None:
        """Hand a drop to the node; if even that fails (e.g. logging after shutdown), one line on stderr."""
        try:
            self._drop(reason, detail)
        except Exception as error:
            print(f"fusion_node: dropped ({reason}): {detail} [reporting failed: {one_line(error)}]", file=sys.stderr)
