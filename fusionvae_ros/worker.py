"""Inference off the subscription callbacks: a latest-wins bounded queue drained by one worker thread.

When inference is slower than the cameras, the oldest waiting set is dropped so the output stays current
(a robot wants the newest scene, not a growing backlog).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestWinsQueue(Generic[T]):
    """Thread-safe FIFO of at most ``capacity`` items; putting into a full queue evicts the oldest item."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be >= 1, got {capacity}")
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._ready = threading.Condition()
        self._closed = False

    def put(self, item: T) -> T | None:
        """Enqueue ``item``; return the item evicted to make room, if any."""
        with self._ready:
            evicted = self._items.popleft() if len(self._items) >= self._capacity else None
            self._items.append(item)
            self._ready.notify()
            return evicted

    def get(self) -> T | None:
        """Block until an item is available and return it; None once the queue is closed."""
        with self._ready:
            self._ready.wait_for(lambda: self._items or self._closed)
            return None if self._closed else self._items.popleft()

    def close(self) -> None:
        """Wake every waiting ``get`` with None; later puts are ignored by consumers."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()


class Worker(Generic[T]):
    """A daemon thread that hands each queued item to ``handle``.

    ``handle`` must not raise (wrap it with guard.CallbackGuard): an exception would end the thread.
    """

    def __init__(self, queue: LatestWinsQueue[T], handle: Callable[[T], None]) -> None:
        self._queue = queue
        self._handle = handle
        self._thread = threading.Thread(target=self._run, name="fusion-inference", daemon=True)

    def start(self) -> None:
        """Start draining the queue."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the queue and wait (up to ``timeout`` s) for the item in progress to finish."""
        self._queue.close()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            self._handle(item)
