"""record: write what arrives on some topics to a new bag until SIGINT/SIGTERM, --duration or --expect-sets.

Each topic is subscribed once a publisher appears (its type and reliability are taken from the publishers),
announced on stdout as ``record: subscribed to TOPIC (TYPE, RELIABILITY)``. Messages are stored as received
(CDR bytes, no decoding) with the wall-clock receive time as log time, so score can measure latency. The bag
is written in a hidden folder beside OUTPUT and moved there when recording stops; a recorder that is killed
outright (SIGKILL) leaves OUTPUT untouched instead of half-written.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from fusionvae_ros.bag.bag_files import FUSED_TOPICS, MEAN_TOPIC, BagError, OutputBag, message_class
from fusionvae_ros.bag.ros_session import ros_node, stop_on_signals

SUBSCRIPTION_DEPTH = 1000
DISCOVERY_PERIOD_S = 0.1
SPIN_PERIOD_S = 0.05
DRAIN_SPIN_S, DRAIN_IDLE_SPINS, DRAIN_LIMIT_S = 0.01, 3, 2.0  # on stop: spins without a message that end recording


@dataclass(frozen=True)
class RecordOptions:
    """What to record and when to stop (None = no such limit; SIGINT/SIGTERM always stop)."""

    topics: tuple[str, ...] = FUSED_TOPICS
    duration_s: float | None = None
    expect_sets: int | None = None
    set_topic: str = MEAN_TOPIC
    grace_s: float = 0.5
    overwrite: bool = False


class _Recorder:
    """Subscribes to the topics as their publishers appear and appends every message to the bag."""

    def __init__(self, node: Any, bag: OutputBag, options: RecordOptions) -> None:
        self._node = node
        self._bag = bag
        self._options = options
        self._pending = list(dict.fromkeys(options.topics))
        self._subscriptions: list[Any] = []
        self.messages = 0
        self.sets = 0
        node.create_timer(DISCOVERY_PERIOD_S, self._subscribe_discovered)

    def _subscribe_discovered(self) -> None:
        """Subscribe to every pending topic that has a publisher, matching the publishers' reliability."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        for topic in list(self._pending):
            publishers = self._node.get_publishers_info_by_topic(topic)
            if not publishers:  # a subscriber alone (e.g. the node's camera inputs) says nothing about the QoS
                continue
            msgtype = publishers[0].topic_type
            reliable = all(info.qos_profile.reliability == ReliabilityPolicy.RELIABLE for info in publishers)
            reliability = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
            self._bag.add_topic(topic, msgtype)
            qos = QoSProfile(depth=SUBSCRIPTION_DEPTH, reliability=reliability)
            self._subscriptions.append(
                self._node.create_subscription(
                    message_class(msgtype), topic, partial(self._on_message, topic), qos, raw=True
                )
            )
            self._pending.remove(topic)
            print(f"record: subscribed to {topic} ({msgtype}, {reliability.name.lower()})", flush=True)

    def _on_message(self, topic: str, data: bytes, info: Any) -> None:
        self._bag.write(topic, info.get("received_timestamp") or time.time_ns(), data)
        self.messages += 1
        if topic == self._options.set_topic:
            self.sets += 1


def _drain(executor: Any, recorder: _Recorder) -> None:
    """Store the messages already delivered when recording stops (until a few spins in a row add none)."""
    deadline = time.monotonic() + DRAIN_LIMIT_S
    idle_spins = 0
    while idle_spins < DRAIN_IDLE_SPINS and time.monotonic() < deadline:
        before = recorder.messages
        executor.spin_once(timeout_sec=DRAIN_SPIN_S)
        idle_spins = idle_spins + 1 if recorder.messages == before else 0


def record(path: str, options: RecordOptions) -> dict[str, int]:
    """Record into a new bag at ``path`` until a stop condition; returns the message count per topic."""
    from rclpy.executors import SingleThreadedExecutor

    if options.duration_s is not None and options.duration_s <= 0:
        raise BagError(f"--duration must be > 0 s, got {options.duration_s}")
    if options.expect_sets is not None and options.expect_sets < 1:
        raise BagError(f"--expect-sets must be >= 1, got {options.expect_sets}")
    if options.expect_sets is not None and options.set_topic not in options.topics:
        raise BagError(f"--expect-sets counts messages on {options.set_topic}, which is not among --topics")
    with OutputBag(path, options.overwrite) as bag, ros_node("fusionvae_bag_record") as node:
        with stop_on_signals() as signalled:
            recorder = _Recorder(node, bag, options)
            executor = SingleThreadedExecutor(context=node.context)
            executor.add_node(node)
            print(f"record: recording {', '.join(options.topics)} to {path}", flush=True)
            started = time.monotonic()
            enough_at = None
            while not signalled.is_set():
                executor.spin_once(timeout_sec=SPIN_PERIOD_S)
                now = time.monotonic()
                if options.duration_s is not None and now - started >= options.duration_s:
                    break
                if options.expect_sets is not None and recorder.sets >= options.expect_sets:
                    enough_at = enough_at or now
                    if now - enough_at >= options.grace_s:
                        break
            _drain(executor, recorder)
            executor.remove_node(node)
        counts = dict(bag.counts)
    print(f"record: wrote {recorder.messages} messages to {path} ({recorder.sets} sets)", flush=True)
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of record."""
    defaults = RecordOptions()
    parser.add_argument("-o", "--output", required=True, help="bag folder to create (refused if it exists)")
    parser.add_argument("--topics", nargs="+", default=list(defaults.topics), help="topics to record")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: no limit)")
    parser.add_argument("--expect-sets", type=int, metavar="N", help="stop once N fused sets arrived (on --set-topic)")
    parser.add_argument(
        "--set-topic", default=defaults.set_topic, help="topic with one message per fused set, for --expect-sets"
    )
    parser.add_argument(
        "--grace", type=float, default=defaults.grace_s, help="seconds to keep recording after the N-th set"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag at OUTPUT (once complete)")


def run(args: argparse.Namespace) -> int:
    """Run record from parsed arguments."""
    options = RecordOptions(
        tuple(args.topics), args.duration, args.expect_sets, args.set_topic, args.grace, args.overwrite
    )
    record(args.output, options)
    return 0
