"""ViewSynchroniser behaviour on hand-written arrival sequences (times in ms, converted to ns)."""

from __future__ import annotations

import pytest

from fusionvae_ros.sync import (
    DROP_LATE,
    DROP_OVERFLOW,
    DROP_RESET,
    DROP_SUPERSEDED,
    View,
    ViewSynchroniser,
)

MS = 1_000_000


class Recorder:
    """Collects the synchroniser's drop reports."""

    def __init__(self) -> None:
        self.drops: list[tuple[str, str]] = []

    def __call__(self, reason: str, view: View) -> None:
        self.drops.append((reason, view.payload))


def make_sync(num_cameras: int = 3, slop_ms: float = 5, max_wait_ms: float = 50, **kwargs) -> ViewSynchroniser:
    return ViewSynchroniser(num_cameras, slop=slop_ms / 1e3, max_wait=max_wait_ms / 1e3, **kwargs)


def test_complete_set_is_emitted_on_the_last_view_with_views_sorted_by_camera():
    sync = make_sync()
    assert sync.add(2, 100 * MS, "c2", now_ns=101 * MS) == []
    assert sync.add(0, 102 * MS, "c0", now_ns=102 * MS) == []
    (view_set,) = sync.add(1, 99 * MS, "c1", now_ns=103 * MS)
    assert view_set.complete
    assert view_set.cameras == (0, 1, 2)
    assert [view.payload for view in view_set.views] == ["c0", "c1", "c2"]
    assert view_set.newest.payload == "c0"
    assert view_set.spread_ns == 3 * MS
    assert sync.buffered() == 0


def test_views_further_apart_than_slop_are_not_grouped():
    sync = make_sync(num_cameras=2, slop_ms=5)
    sync.add(0, 100 * MS, "a", now_ns=100 * MS)
    assert sync.add(1, 106 * MS, "b", now_ns=106 * MS) == []
    assert sync.buffered() == 2


def test_tightest_complete_set_wins_when_several_fit():
    sync = make_sync(num_cameras=2, slop_ms=10, on_drop=Recorder())
    sync.add(0, 100 * MS, "early", now_ns=100 * MS)
    sync.add(0, 108 * MS, "close", now_ns=108 * MS)
    (view_set,) = sync.add(1, 109 * MS, "b", now_ns=109 * MS)
    assert [view.payload for view in view_set.views] == ["close", "b"]
    # "early" is older than the emitted set: it can never be emitted in order any more
    assert _drops(sync) == [(DROP_SUPERSEDED, "early")]


def _drops(sync: ViewSynchroniser) -> list[tuple[str, str]]:
    recorder = sync.on_drop
    assert isinstance(recorder, Recorder)
    return recorder.drops


def test_partial_set_after_max_wait_only():
    sync = make_sync(max_wait_ms=50)
    sync.add(0, 100 * MS, "a", now_ns=100 * MS)
    sync.add(1, 101 * MS, "b", now_ns=101 * MS)
    assert sync.poll(149 * MS) == []
    (view_set,) = sync.poll(150 * MS)
    assert not view_set.complete
    assert view_set.cameras == (0, 1)
    assert sync.buffered() == 0


def test_single_camera_partial_set_and_missing_partner_arriving_late_is_dropped():
    sync = make_sync(num_cameras=2, max_wait_ms=20, on_drop=Recorder())
    sync.add(0, 100 * MS, "a", now_ns=100 * MS)
    (view_set,) = sync.poll(120 * MS)
    assert view_set.cameras == (0,)
    assert sync.add(1, 100 * MS, "late", now_ns=121 * MS) == []
    assert _drops(sync) == [(DROP_LATE, "late")]


def test_expired_set_goes_out_before_a_new_view_is_buffered():
    sync = make_sync(num_cameras=2, slop_ms=5, max_wait_ms=20)
    sync.add(0, 100 * MS, "a", now_ns=100 * MS)
    ready = sync.add(1, 103 * MS, "b", now_ns=130 * MS)  # would have matched, but "a" expired at 120 ms
    assert [s.cameras for s in ready] == [(0,)]
    assert [v.payload for v in ready[0].views] == ["a"]
    assert sync.buffered() == 1


def test_newer_complete_set_supersedes_older_waiting_views():
    sync = make_sync(num_cameras=2, max_wait_ms=100, on_drop=Recorder())
    sync.add(0, 100 * MS, "old", now_ns=100 * MS)
    sync.add(0, 133 * MS, "a", now_ns=133 * MS)
    (view_set,) = sync.add(1, 134 * MS, "b", now_ns=134 * MS)
    assert [v.payload for v in view_set.views] == ["a", "b"]
    assert _drops(sync) == [(DROP_SUPERSEDED, "old")]


def test_buffers_are_bounded_and_overflow_drops_the_oldest():
    sync = make_sync(num_cameras=2, max_wait_ms=10_000, queue_size=3, on_drop=Recorder())
    for i in range(5):
        sync.add(0, (100 + 20 * i) * MS, f"v{i}", now_ns=(100 + 20 * i) * MS)
    assert sync.buffered() == 3
    assert _drops(sync) == [(DROP_OVERFLOW, "v0"), (DROP_OVERFLOW, "v1")]


def test_backwards_jump_resets_and_fusing_continues():
    sync = make_sync(num_cameras=2, reset_jump=1.0, on_drop=Recorder())
    sync.add(0, 5000 * MS, "a", now_ns=5000 * MS)
    sync.add(1, 5000 * MS, "b", now_ns=5000 * MS)
    sync.add(0, 5033 * MS, "pending", now_ns=5033 * MS)
    assert sync.add(0, 10 * MS, "loop0", now_ns=5040 * MS) == []  # bag looped back to its start
    assert sync.resets == 1
    assert _drops(sync) == [(DROP_RESET, "pending")]
    (view_set,) = sync.add(1, 11 * MS, "loop1", now_ns=5041 * MS)
    assert [v.payload for v in view_set.views] == ["loop0", "loop1"]


def test_small_backwards_step_is_a_late_drop_not_a_reset():
    sync = make_sync(num_cameras=1, reset_jump=1.0, on_drop=Recorder())
    sync.add(0, 5000 * MS, "a", now_ns=5000 * MS)
    assert sync.add(0, 4990 * MS, "b", now_ns=5001 * MS) == []
    assert sync.resets == 0
    assert _drops(sync) == [(DROP_LATE, "b")]


def test_runtime_changes_of_slop_and_max_wait_take_effect():
    sync = make_sync(num_cameras=2, slop_ms=1, max_wait_ms=1000)
    sync.add(0, 100 * MS, "a", now_ns=100 * MS)
    sync.set_slop(0.010)
    (view_set,) = sync.add(1, 108 * MS, "b", now_ns=108 * MS)
    assert view_set.complete
    sync.add(0, 200 * MS, "c", now_ns=200 * MS)
    sync.set_max_wait(0.005)
    assert [s.cameras for s in sync.poll(205 * MS)] == [(0,)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_cameras": 0, "slop": 0.01, "max_wait": 0.1}, "num_cameras"),
        ({"num_cameras": 2, "slop": -0.01, "max_wait": 0.1}, "slop"),
        ({"num_cameras": 2, "slop": 0.01, "max_wait": -1}, "max_wait"),
        ({"num_cameras": 2, "slop": 0.01, "max_wait": 0.1, "queue_size": 0}, "queue_size"),
    ],
)
def test_invalid_configuration_is_rejected_with_the_field_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ViewSynchroniser(**kwargs)


def test_camera_index_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="camera index 3"):
        make_sync().add(3, 0, "x", now_ns=0)
