"""The temporal view source (fusionvae_ros.temporal) and the pipeline in view_source temporal: a ring buffer bounded
by frames and seconds, emptied by a silent camera, reset by stamps that jump back, never holding bad input; fusing
throttled to fusion_rate on a stamp grid; sets of the newest frame and select_frames' picks, newest first."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from test_pipeline import BASE_NS, StandInBackend, gradient, image, make_pipeline

from fusionvae_core.image_codec import encode_compressed
from fusionvae_ros.sync import View, ViewSet
from fusionvae_ros.temporal import DROP_LATE, TemporalSource

MS = 1_000_000
S = 1_000_000_000


def frame(index: int) -> np.ndarray:
    """A distinct 8x8 grey frame: a bright column that moves with ``index``."""
    pixels = np.full((8, 8, 1), 40, np.uint8)
    pixels[:, index % 8] = 220
    return pixels


class Source:
    """A TemporalSource whose payloads are frames and whose drops are collected."""

    def __init__(self, window: float = 1.0, max_frames: int = 30, fusion_rate: float = 0.0, reset_jump: float = 1.0):
        self.drops: list[tuple[str, View]] = []
        self.source = TemporalSource(
            window, max_frames, fusion_rate, reset_jump, image=lambda payload: payload, on_drop=self._drop
        )

    def _drop(self, reason: str, view: View) -> None:
        self.drops.append((reason, view))

    def add(self, index: int, stamp_ns: int, now_ns: int | None = None) -> list[ViewSet]:
        """Frame ``index`` stamped ``stamp_ns``, received at ``now_ns`` (default: at its stamp)."""
        return self.source.add(0, stamp_ns, frame(index), stamp_ns if now_ns is None else now_ns)

    def stamps(self) -> list[int]:
        """Stamps of the buffered frames, oldest first."""
        return [view.stamp_ns for view in self.source._frames]


def stamps_of(view_set: ViewSet) -> list[int]:
    return [view.stamp_ns for view in view_set.views]


def test_sets_are_the_newest_frame_then_the_selected_ones_and_grow_to_three_views():
    source = Source()
    sizes = []
    for index in range(5):
        (view_set,) = source.add(index, BASE_NS + index * 100 * MS)
        assert view_set.newest is view_set.views[0] and view_set.newest.stamp_ns == BASE_NS + index * 100 * MS
        assert view_set.due_ns == BASE_NS + index * 100 * MS, "due at the newest frame's receipt"
        sizes.append(len(view_set.views))
    assert sizes == [1, 2, 3, 3, 3]
    assert stamps_of(view_set)[:2] == [BASE_NS + 400 * MS, BASE_NS], "newest, then the oldest"
    assert len(set(stamps_of(view_set))) == 3 and view_set.complete


def test_the_buffer_is_bounded_by_frames():
    source = Source(max_frames=4)
    for index in range(10):
        (view_set,) = source.add(index, BASE_NS + index * 10 * MS)
    assert source.source.buffered() == 4
    assert source.stamps() == [BASE_NS + index * 10 * MS for index in range(6, 10)]
    assert stamps_of(view_set)[1] == BASE_NS + 60 * MS, "the oldest frame kept, not an evicted one"


def test_the_buffer_is_bounded_by_seconds_of_stamps():
    source = Source(window=1.0)
    for index in range(6):
        source.add(index, BASE_NS + index * 300 * MS)
    assert source.stamps() == [BASE_NS + ms * MS for ms in (600, 900, 1200, 1500)], "within 1 s of the newest"


def test_a_silent_camera_empties_the_buffer_after_the_window():
    source = Source(window=1.0)
    for index in range(3):
        source.add(index, BASE_NS + index * 100 * MS)
    last_receipt = BASE_NS + 200 * MS
    assert source.source.poll(last_receipt + 999 * MS) == [] and source.source.buffered() == 3
    assert source.source.poll(last_receipt + S) == [] and source.source.buffered() == 0
    (view_set,) = source.add(7, last_receipt + 1100 * MS)
    assert len(view_set.views) == 1, "no stale frame is fused after the silence"
    assert source.source.resets == 0 and source.drops == []


def test_stamps_that_jump_back_reset_the_buffer_and_small_steps_back_are_dropped():
    source = Source(reset_jump=1.0)
    for index in range(4):
        source.add(index, BASE_NS + 5 * S + index * 100 * MS)
    assert source.add(9, BASE_NS + 5 * S + 250 * MS) == [], "out of order, no bag loop"
    (reason, late), *_ = source.drops
    assert reason == DROP_LATE and late.stamp_ns == BASE_NS + 5 * S + 250 * MS
    assert source.source.buffered() == 4 and source.source.resets == 0
    (view_set,) = source.add(5, BASE_NS, now_ns=BASE_NS + 6 * S)  # the bag starts over
    assert source.source.resets == 1 and source.stamps() == [BASE_NS]
    assert stamps_of(view_set) == [BASE_NS]


def test_fusing_is_throttled_to_fusion_rate_on_a_stamp_grid_despite_jitter():
    rng = np.random.default_rng(0)
    source = Source(fusion_rate=10.0)
    stamps = [BASE_NS + round(index * S / 30 + rng.normal(0, 2 * MS)) for index in range(90)]  # 3 s at 30 Hz
    fused = [view_set.newest.stamp_ns for index, stamp in enumerate(stamps) for view_set in source.add(index, stamp)]
    assert len(fused) == 30, "exactly fusion_rate sets per second"
    assert fused[0] == stamps[0], "the first frame is fused"
    gaps = np.diff(fused) / MS
    assert gaps.min() > 60 and gaps.max() < 140, "one set per 100 ms grid step"
    source.source.apply_settings(SimpleNamespace(fusion_rate=0.0))
    assert all(source.add(index, BASE_NS + 4 * S + index * MS) for index in range(5)), "rate 0: every frame"


def test_the_same_frames_give_the_same_sets():
    runs = []
    for _ in range(2):
        source = Source(window=0.5, max_frames=8, fusion_rate=15.0)
        sets = [source.add(index, BASE_NS + index * 33 * MS) for index in range(40)]
        runs.append([stamps_of(view_set) for found in sets for view_set in found])
    assert runs[0] == runs[1] and len(runs[0]) > 10


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="window must be > 0 s"):
        TemporalSource(0.0, 4, 10.0, 1.0, image=np.asarray, on_drop=lambda reason, view: None)
    with pytest.raises(ValueError, match="fusion_rate must be >= 0"):
        TemporalSource(1.0, 4, -1.0, 1.0, image=np.asarray, on_drop=lambda reason, view: None)


# --- the pipeline in view_source temporal ---


def temporal_pipeline(backend=None, **parameters):
    return make_pipeline(backend, camera_topics=["arm_cam"], view_source="temporal", fusion_rate=0.0, **parameters)


def moving(index: int) -> np.ndarray:
    """A 24x32 rgb camera frame whose dark bar (the arm) moves with ``index``."""
    pixels = gradient(24, 32)
    pixels[:, 4 * index % 28 : 4 * index % 28 + 4] = 0
    return pixels


def test_bad_frames_never_enter_the_buffer():
    pipeline, drops = temporal_pipeline()
    pipeline.add_view(0, image(BASE_NS, moving(0)), BASE_NS)
    short = image(BASE_NS + 100 * MS, moving(1))
    short.data = short.data[:-1]
    future = image(BASE_NS + 30 * S, moving(2))
    assert pipeline.add_view(0, short, BASE_NS + 100 * MS) == []
    assert pipeline.add_view(0, future, BASE_NS + 200 * MS) == []
    assert drops.reasons() == ["data_length", "stamp_future"] and pipeline.source.buffered() == 1
    (view_set,) = pipeline.add_view(0, image(BASE_NS + 300 * MS, moving(3)), BASE_NS + 300 * MS)
    assert [view.stamp_ns for view in view_set.views] == [BASE_NS + 300 * MS, BASE_NS]


@pytest.mark.parametrize("transport", ["raw", "compressed"])
def test_a_fused_set_carries_the_newest_stamp_and_frame_and_records_the_fused_frames(transport):
    backend = StandInBackend()
    pipeline, _ = temporal_pipeline(backend, input_transport=transport, output_size="camera", seed=3)
    sets = []
    for index in range(4):
        stamp = BASE_NS + index * 100 * MS
        if transport == "compressed":
            fmt, payload = encode_compressed(moving(index), "rgb8", "jpeg")
            msg = SimpleNamespace(header=image(stamp, moving(index), f"cam_{index}").header, format=fmt, data=payload)
        else:
            msg = image(stamp, moving(index), f"cam_{index}")
        sets += pipeline.add_view(0, msg, 0)
    assert len(sets) == 4 and pipeline.flush() == []
    fused = pipeline.fuse(sets[-1])
    stamps = [BASE_NS + 300 * MS, BASE_NS, fused.views[2].stamp_ns]
    assert (fused.stamp_ns, fused.frame_id, fused.cameras) == (stamps[0], "cam_3", (0, 0, 0))
    assert fused.record() == {
        "num_hypotheses": "3",
        "k": "3",
        "cameras": "0,0,0",
        "stamps": ",".join(map(str, stamps)),
        "compositing": "false",
    }
    assert backend.calls[-1]["views"].shape == (1, 3, 16, 16, 1) and fused.geometry.size == (32, 24)
    pipeline.update({"fusion_rate": 2.0})
    assert pipeline.source.period_ns == 500 * MS
