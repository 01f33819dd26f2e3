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
from typing import Any

from fusionvae_core.image_codec import RejectedInputError
from fusionvae_ros.pipeline import one_line


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
