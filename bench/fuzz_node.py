"""Fuzz the fusion node: a separate publisher process sends N malformed camera messages of every kind interleaved
with valid three-camera sets; the node must stay alive, fuse every valid set and count every bad message once.

Three processes over real DDS (loopback, reliable QoS): the node, a publisher (this script with --publish) and
this process, which collects the node's outputs and /diagnostics. Malformed kinds are those of the node tests
(test/ros_helpers.MALFORMED: short data, bad step, unknown encoding, zero size, too large, stamps in the future,
in the past, negative and with nanosec out of range) plus sets whose views differ in size. After every round of
one message of each kind comes one valid set, so valid sets are interleaved with bad input on every camera; the
publisher sends it once the node has handled the round (flow control through /diagnostics, so that the count is
exact on a loaded machine: this bench is about robustness; bench/node_latency.py and soak_node.py measure speed).
Prints: node alive, valid sets fused / sent, drops by reason against the messages sent of that kind.

    .venv/bin/python bench/fuzz_node.py [--count 2000] [--model PATH]

Exit status 0 when the node survived, no callback raised, every malformed kind was counted exactly and every valid
set was fused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test"))  # the node-process and harness helpers the node tests use

from ros_helpers import (  # noqa: E402
    MALFORMED,
    camera_image,
    count,
    node_test_model,
    ros_environment,
    running_node,
    sets_in_flight,
    stamp_ns,
)

CAMERAS = ["fuzz/cam0", "fuzz/cam1", "fuzz/cam2"]
MISMATCHED = "mismatched_sizes"  # a whole set whose views differ in size: dropped as a set
NUM_HYPOTHESES = 2
CAMERA_OFFSET_NS = 1_000_000  # camera c of a valid set is stamped c ms after camera 0
SET_GAP_NS = 30_000_000  # stamps of consecutive sets lie further apart than the node's slop (10 ms) allows
NODE_PARAMETERS = {
    "camera_topics": CAMERAS,
    "num_hypotheses": NUM_HYPOTHESES,
    "input_reliability": "reliable",
    "input_queue_size": 100,
    "sync_queue_size": 50,
    "inference_queue_size": 10,  # robustness, not throughput: a slow inference must not evict valid sets
    "max_wait": 2.0,  # a loaded machine delivers the three topics with lags: wait long for complete sets
    "max_image_pixels": 10_000,  # below ros_helpers.HUGE_SIZE, above the 48x40 test images
    "future_tolerance": 0.5,
    "max_age": 5.0,
    "diagnostics_period": 0.1,  # the publisher's flow control reads the node's counters
}


def publish_main(args: argparse.Namespace) -> None:
    """The publisher process: rounds of one malformed message per kind, then one valid set; a JSON summary out.

    Flow control, so that a loaded machine loses nothing in transit: before each valid set the publisher waits
    until the node's /diagnostics show every view sent so far received and nothing buffered or in inference.
    """
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    context = Context()
    rclpy.init(context=context, domain_id=args.domain_id)
    node = rclpy.create_node("fuzz_publisher", context=context)
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    publishers = [node.create_publisher(Image, topic, qos) for topic in CAMERAS]
    report: dict[str, str] = {}
    node.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda msg: report.update({kv.key: kv.value for kv in msg.status[0].values}),
        10,
    )
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    views_per_camera = [0, 0, 0]

    def wait_until(condition, what: str) -> None:
        """Spin (receiving /diagnostics) until ``condition()``; exit with ``what`` after two minutes."""
        deadline = time.monotonic() + 120
        while not condition():
            if time.monotonic() > deadline:
                sys.exit(f"fuzz publisher: timed out waiting for {what}; last report {report}")
            executor.spin_once(timeout_sec=0.05)

    def node_idle() -> bool:
        """The node received every view sent so far and has nothing buffered or in inference."""
        received = [count(report, f"views_received_cam{camera}") for camera in range(3)]
        return received == views_per_camera and not count(report, "sync_buffered_views") and not sets_in_flight(report)

    wait_until(lambda: all(publisher.get_subscription_count() for publisher in publishers), "the node's subscriptions")
    kinds = [*MALFORMED, MISMATCHED]
    sent: Counter[str] = Counter()
    valid_stamps: list[int] = []
    last_set_stamp = 0

    def set_stamp() -> int:
        """Now, but at least SET_GAP_NS after the previous set, so that no two sets' views can pair up."""
        nonlocal last_set_stamp
        last_set_stamp = max(time.time_ns(), last_set_stamp + SET_GAP_NS)
        return last_set_stamp

    for index in range(args.count):
        kind = kinds[index % len(kinds)]
        if kind == MISMATCHED:
            stamp = set_stamp()
            for camera, publisher in enumerate(publishers):
                size = (64, 40) if camera == index % 3 else (48, 40)
                publisher.publish(camera_image(stamp + camera * CAMERA_OFFSET_NS, f"cam{camera}", size=size))
                views_per_camera[camera] += 1
        else:
            camera = index % 3
            msg = camera_image(time.time_ns(), f"cam{camera}", seed=index)
            MALFORMED[kind][1](msg)
            publishers[camera].publish(msg)
            views_per_camera[camera] += 1
        sent[kind] += 1
        if index % len(kinds) == len(kinds) - 1:  # end of a round: one valid set once the node caught up
            wait_until(node_idle, "the node to handle the round")
            stamp = set_stamp()
            for camera, publisher in enumerate(publishers):
                publisher.publish(camera_image(stamp + camera * CAMERA_OFFSET_NS, f"cam{camera}", seed=camera))
                views_per_camera[camera] += 1
            valid_stamps.append(stamp + 2 * CAMERA_OFFSET_NS)
    wait_until(node_idle, "the node to handle the last set")
    summary = {"sent": dict(sent), "views_per_camera": views_per_camera, "valid_stamps": valid_stamps}
    print(json.dumps(summary), flush=True)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def run_fuzz(args: argparse.Namespace, model: Path, log_dir: Path) -> int:
    """Start node + collector, run the publisher process, report; 0 if the node survived and fused every set."""
    parameters = {**NODE_PARAMETERS, "model_path": str(model)}
    with running_node(parameters, log_dir, CAMERAS) as (node, harness):
        before = harness.diagnostics_after(time.monotonic())
        started = time.monotonic()
        command = [sys.executable, __file__, "--publish", "--domain-id", str(node.domain_id)]
        command += ["--count", str(args.count)]
        done = subprocess.run(
            command, capture_output=True, text=True, env=ros_environment(node.domain_id), timeout=600, check=False
        )
        if done.returncode != 0:
            print(f"publisher failed ({done.returncode}): {done.stderr[-2000:]}")
            return 1
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        harness.published = list(summary["views_per_camera"])
        after = harness.settled_diagnostics(timeout=120)
        elapsed = time.monotonic() - started
        alive = node.alive()
        fused_stamps = Counter(stamp_ns(item.msg) for item in harness.messages("fused/hypotheses", started))
    valid = summary["valid_stamps"]
    fused = sum(fused_stamps.get(stamp, 0) == NUM_HYPOTHESES for stamp in valid)
    partial = sum(  # fused without camera 2's view: the output carries camera 1's (or 0's) stamp
        fused_stamps.get(stamp, 0) < NUM_HYPOTHESES
        and any(fused_stamps.get(stamp - lag * CAMERA_OFFSET_NS) for lag in (1, 2))
        for stamp in valid
    )
    received = [count(after, f"views_received_cam{c}") - count(before, f"views_received_cam{c}") for c in range(3)]
    print(f"model: {model}; {args.count} malformed messages/sets, {len(valid)} valid sets, {elapsed:.1f} s")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other processes slow the node down)")
    print(f"node alive after the fuzz: {'yes' if alive else 'NO'}")
    print(f"views received by the node per camera: {received} of {summary['views_per_camera']} sent")
    busy = count(after, "drops_inference_busy") - count(before, "drops_inference_busy")
    print(f"valid sets fused / sent: {fused} / {len(valid)} = {fused / max(len(valid), 1):.3f} complete", end="")
    print(f" (+ {partial} fused from fewer views after max_wait)")
    print(
        f"valid sets not fused: {busy} replaced by a newer set while inference was busy (the node's latest-wins "
        f"queue; depends on the machine's load), {len(valid) - fused - partial - busy} otherwise lost"
    )
    print("drops by reason (counted by the node during the fuzz / malformed messages sent of that kind):")
    expected = Counter()
    for kind, number in summary["sent"].items():
        expected[MALFORMED[kind][0] if kind in MALFORMED else kind] += number
    reasons = sorted({*expected, *(key[len("drops_") :] for key in after if key.startswith("drops_"))} - {"total"})
    for reason in reasons:
        counted = count(after, f"drops_{reason}") - count(before, f"drops_{reason}")
        print(f"  {reason:>22}: {counted:6d} / {expected.get(reason, 0):6d}")
    errors = [reason for reason in reasons if reason.endswith("_error")]
    print(f"unexpected exceptions caught by the guard (*_error drops): {errors or 'none'}")
    miscounted = [
        reason
        for reason, number in expected.items()
        if count(after, f"drops_{reason}") - count(before, f"drops_{reason}") != number
    ]
    print(f"reasons whose count differs from the malformed messages sent: {miscounted or 'none'}")
    return 0 if alive and not errors and not miscounted and fused == len(valid) else 1


def parse_args() -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="malformed messages (and odd-size sets) to send")
    parser.add_argument("--model", type=Path, help="ONNX model (default: shipped FusionMNIST, else a tiny export)")
    parser.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)  # internal: the publisher
    parser.add_argument("--domain-id", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    """Run the fuzz (or, with --publish, be its publisher process)."""
    args = parse_args()
    if args.publish:
        publish_main(args)
        return 0
    try:
        model = args.model or node_test_model().path
    except pytest.skip.Exception as error:
        sys.exit(f"fuzz_node: no model to run: {error}")
    return run_fuzz(args, model, Path(tempfile.mkdtemp(prefix="fuzz_node_")))


if __name__ == "__main__":
    sys.exit(main())
