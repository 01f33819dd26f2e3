"""FusionStats: counters, rates, percentiles and the /diagnostics status the node publishes."""

from __future__ import annotations

import time

import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from fusionvae_ros.diagnostics import FusionStats


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {item.key: item.value for item in status.values}


def test_report_counts_views_sets_per_k_and_drops_per_reason():
    stats = FusionStats(num_cameras=3)
    for camera in (0, 0, 1, 2):
        stats.record_view(camera)
    stats.record_set((0, 1, 2), (10_000_000, 11_000_000, 12_000_000))
    stats.record_set((0, 2), (20_000_000, 21_500_000))
    stats.record_drop("encoding")
    stats.record_drop("encoding")
    stats.record_drop("sync_late")
    report = values(stats.report("fusion_node: fusion", "/fusion_node", extra={"sync_resets": 2}))
    assert [report[f"views_received_cam{c}"] for c in range(3)] == ["2", "1", "1"]
    assert [report[f"sets_k{k}"] for k in (1, 2, 3)] == ["0", "1", "1"]
    assert report["drops_encoding"] == "2" and report["drops_sync_late"] == "1" and report["drops_total"] == "3"
    assert report["last_set_cameras"] == "0,2"
    assert (report["last_set_stamps"], report["last_set_ages_ms"]) == ("20000000,21500000", "1.5,0.0")
    assert report["sync_resets"] == "2"


def test_one_camera_reports_every_k_and_the_frames_of_its_last_set():
    stats = FusionStats(num_cameras=1)
    stats.record_set((0, 0, 0), (3_000_000_000, 2_000_000_000, 2_500_000_000))  # temporal: newest first
    report = values(stats.report("n", "h"))
    assert [report[f"sets_k{k}"] for k in (1, 2, 3)] == ["0", "0", "1"]
    assert report["last_set_stamps"] == "3000000000,2000000000,2500000000"
    assert report["last_set_ages_ms"] == "0.0,1000.0,500.0"


def test_latency_percentiles_and_node_overhead_in_milliseconds():
    stats = FusionStats(num_cameras=1)
    for index in range(100):
        stats.record_published(3, latency_s=0.010 + index * 1e-4, backend_s=0.008)
    report = values(stats.report("n", "h"))
    assert float(report["latency_ms_p50"]) == pytest.approx(10.0 + 49.5 * 0.1, abs=1e-3)  # median of 10.0..19.9
    assert float(report["latency_ms_p99"]) > float(report["latency_ms_p90"]) > float(report["latency_ms_p50"])
    assert float(report["backend_ms_p50"]) == pytest.approx(8.0)
    assert abs(float(report["overhead_ms_p50"]) - (float(report["latency_ms_p50"]) - 8.0)) < 1e-3
    assert report["hypotheses_published"] == "300" and report["sets_published"] == "100"


class FakeClock:
    """A monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_level_warns_when_drops_exceed_the_fraction_of_the_period_only():
    clock = FakeClock()
    stats = FusionStats(num_cameras=1, max_drop_fraction=0.25, clock=clock)
    stats.record_view(0)
    stats.record_drop("zero_size")
    for _ in range(3):
        stats.record_published(3, 0.01, 0.005)
    first = stats.report("n", "h")  # 1 drop vs 3 sets: exactly 25 %, not more
    assert first.level == DiagnosticStatus.OK
    stats.record_view(0)
    stats.record_drop("zero_size")
    stats.record_drop("step")
    stats.record_published(3, 0.01, 0.005)
    second = stats.report("n", "h")
    assert second.level == DiagnosticStatus.WARN
    assert "2 views/sets dropped vs 1 sets fused" in second.message and "25%" in second.message
    stats.record_view(0)
    third = stats.report("n", "h")
    assert third.level == DiagnosticStatus.OK, "only the drops of the last period count"
    assert values(third)["drops_zero_size"] == "2", "counters stay cumulative"


def test_level_is_error_without_any_input_and_warn_for_one_silent_camera():
    clock = FakeClock()
    stats = FusionStats(num_cameras=3, silent_timeout=2.0, clock=clock)
    clock.now += 1.0
    assert stats.report("n", "h").level == DiagnosticStatus.OK, "silence shorter than the timeout is fine"
    clock.now += 1.5
    waiting = stats.report("n", "h")
    assert waiting.level == DiagnosticStatus.ERROR and waiting.message == "no camera input for 2.5 s"
    for camera in (0, 2):
        stats.record_view(camera)
    one_silent = stats.report("n", "h")
    assert one_silent.level == DiagnosticStatus.WARN and one_silent.message == "silent camera(s): 1 (2.5 s)"
    stats.record_view(1)
    assert stats.report("n", "h").level == DiagnosticStatus.OK
    clock.now += 3.0
    assert stats.report("n", "h").level == DiagnosticStatus.ERROR, "input that stopped is an error too"


def test_silent_camera_and_drops_are_both_named():
    clock = FakeClock()
    stats = FusionStats(num_cameras=2, silent_timeout=1.0, clock=clock)
    clock.now += 1.0
    stats.record_view(0)
    stats.record_drop("encoding")
    status = stats.report("n", "h")
    assert status.level == DiagnosticStatus.WARN
    assert status.message.startswith("silent camera(s): 1 (1.0 s); 1 views/sets dropped vs 0 sets fused")


def test_rates_cover_the_period_since_the_last_report():
    stats = FusionStats(num_cameras=1)
    started = time.monotonic()
    stats.report("n", "h")
    for _ in range(10):
        stats.record_view(0)
    time.sleep(0.1)  # the period lasts at least this long
    rate = float(values(stats.report("n", "h"))["rate_views_hz"])
    elapsed = time.monotonic() - started  # and at most this long
    assert 10 / elapsed - 1e-3 <= rate <= 10 / 0.1 + 1e-3  # the report rounds to 3 decimals


def test_warnings_are_throttled_per_reason():
    stats = FusionStats(num_cameras=1, warn_period=60.0)
    assert stats.record_drop("step") is True
    assert stats.record_drop("step") is False
    assert stats.record_drop("encoding") is True
    assert stats.drops() == {"step": 2, "encoding": 1}
