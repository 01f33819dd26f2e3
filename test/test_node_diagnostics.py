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
    stats.record_set((0, 1, 2))
    stats.record_set((0, 2))
    stats.record_drop("encoding")
    stats.record_drop("encoding")
    stats.record_drop("sync_late")
    report = values(stats.report("fusion_node: fusion", "/fusion_node", extra={"sync_resets": 2}))
    assert [report[f"views_received_cam{c}"] for c in range(3)] == ["2", "1", "1"]
    assert [report[f"sets_k{k}"] for k in (1, 2, 3)] == ["0", "1", "1"]
    assert report["drops_encoding"] == "2" and report["drops_sync_late"] == "1" and report["drops_total"] == "3"
    assert report["last_set_cameras"] == "0,2"
    assert report["sync_resets"] == "2"


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


def test_level_warns_only_for_drops_since_the_previous_report():
    stats = FusionStats(num_cameras=1)
    stats.record_drop("zero_size")
    first = stats.report("n", "h")
    assert first.level == DiagnosticStatus.WARN and "1 views/sets dropped" in first.message
    second = stats.report("n", "h")
    assert second.level == DiagnosticStatus.OK
    assert values(second)["drops_zero_size"] == "1", "counters stay cumulative"


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
