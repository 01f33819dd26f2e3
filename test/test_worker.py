"""The latest-wins inference queue and its worker thread."""

from __future__ import annotations

import threading

from fusionvae_ros.guard import CallbackGuard
from fusionvae_ros.worker import LatestWinsQueue, Worker


def test_full_queue_evicts_the_oldest_item():
    queue: LatestWinsQueue[int] = LatestWinsQueue(2)
    assert queue.put(1) is None
    assert queue.put(2) is None
    assert queue.put(3) == 1
    assert [queue.get(), queue.get()] == [2, 3]


def test_closing_wakes_a_waiting_consumer():
    queue: LatestWinsQueue[int] = LatestWinsQueue(1)
    results = []
    consumer = threading.Thread(target=lambda: results.append(queue.get()))
    consumer.start()
    queue.close()
    consumer.join(30)
    assert results == [None]


def test_guarded_worker_handles_items_in_order_and_survives_errors():
    handled, errors, done = [], [], threading.Event()

    def handle(item: int) -> None:
        if item == 2:
            raise RuntimeError("bad set")
        handled.append(item)
        if item == 4:
            done.set()

    queue: LatestWinsQueue[int] = LatestWinsQueue(10)
    guard = CallbackGuard(lambda reason, detail: errors.append((reason, detail)))
    worker = Worker(queue, guard.wrap("inference_error", handle))
    for item in range(1, 5):
        queue.put(item)
    worker.start()
    assert done.wait(30)
    worker.stop()
    assert handled == [1, 3, 4]
    assert errors == [("inference_error", "RuntimeError: bad set")]
