"""replay: publish a bag's topics through rclpy with their recorded timing and a /clock, like ``ros2 bag play``.

For machines without the ros2 CLI. Messages go out as their stored CDR bytes at their log times (scaled by
``--rate``); /clock (rosgraph_msgs/Clock) carries bag time, so nodes started with ``use_sim_time:=true`` see
the bag's clock: it is published before every message, ``--clock-hz`` times per second in between, and for
half a bag second after the last message (so a node's max_wait can expire for the last set).
Header stamps are left as recorded. ``--loop`` starts over (bag time jumps back) until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fusionvae_ros.bag.bag_files import (
    CLOCK_TOPIC,
    CLOCK_TYPE,
    BagError,
    BagMessage,
    InputBag,
    message_class,
    ns_to_stamp,
)
from fusionvae_ros.bag.ros_session import ros_node, stop_on_signals

PUBLISHER_DEPTH = 100
CLOCK_LEAD_IN_S = 0.3  # /clock at the bag's start time before the first message, so sim-time nodes are ready
CLOCK_TAIL_S = 0.5  # bag seconds of /clock after the last message
ACK_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class ReplayOptions:
    """How to replay: speed factor, looping, topic selection, clock rate and readiness waiting."""

    rate: float = 1.0
    loop: bool = False
    topics: tuple[str, ...] = ()
    clock_hz: float = 100.0
    wait_for_subscribers: int = 0
    wait_timeout_s: float = 30.0


class _Player:
    """Publishes one pass of the bag on a wall-clock schedule, ticking /clock while it waits."""

    def __init__(self, publishers: dict[str, Any], clock_publisher: Any, options: ReplayOptions) -> None:
        from rosgraph_msgs.msg import Clock

        self._publishers = publishers
        self._clock_publisher = clock_publisher
        self._clock_message = Clock
        self._options = options
        self._bag_start_ns = 0
        self._wall_start = 0.0
        self.published = 0

    def play(self, messages: Iterable[BagMessage], stop: threading.Event) -> None:
        """Publish ``messages`` (log-time order) at their scaled log times until done or ``stop`` is set."""
        due = None
        for message in messages:
            if due is None:  # /clock holds the start time for a lead-in before the first message
                self._bag_start_ns, self._wall_start = message.log_time_ns, time.monotonic() + CLOCK_LEAD_IN_S
            due = self._wall_start + (message.log_time_ns - self._bag_start_ns) / 1e9 / self._options.rate
            self._tick_until(due, stop)
            if stop.is_set():
                return
            self._publish_clock(message.log_time_ns)
            self._publishers[message.topic].publish(message.data)
            self.published += 1
        if due is not None:  # keep the clock running briefly so sim-time timers (a node's max_wait) can expire
            self._tick_until(due + CLOCK_TAIL_S / self._options.rate, stop)

    def _bag_time_ns(self, now: float) -> int:
        """Bag time at monotonic wall time ``now`` (the start time during the lead-in)."""
        return self._bag_start_ns + max(0, round((now - self._wall_start) * self._options.rate * 1e9))

    def _tick_until(self, due: float, stop: threading.Event) -> None:
        """Wait until monotonic time ``due``, publishing /clock every 1/clock_hz seconds meanwhile."""
        period = 1.0 / self._options.clock_hz if self._options.clock_hz > 0 else float("inf")
        while not stop.is_set() and (now := time.monotonic()) < due:
            if period < float("inf"):
                self._publish_clock(self._bag_time_ns(now))
            stop.wait(min(period, due - now))

    def _publish_clock(self, bag_time_ns: int) -> None:
        self._clock_publisher.publish(self._clock_message(clock=ns_to_stamp(bag_time_ns)))


def replay(path: str, options: ReplayOptions) -> int:
    """Replay the bag at ``path``; returns the number of messages published."""
    if not options.rate > 0:
        raise BagError(f"--rate must be > 0, got {options.rate}")
    from rclpy.duration import Duration
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    with InputBag(path) as bag, ros_node("fusionvae_bag_replay") as node, stop_on_signals() as stop:
        topics = _select_topics(bag, options.topics)
        qos = QoSProfile(depth=PUBLISHER_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        publishers = {topic: node.create_publisher(message_class(bag.topics[topic]), topic, qos) for topic in topics}
        clock_publisher = node.create_publisher(message_class(CLOCK_TYPE), CLOCK_TOPIC, 10)
        _wait_for_subscribers(publishers, options, stop)
        print(f"replay: playing {path} ({', '.join(topics)}) at rate {options.rate}", flush=True)
        player = _Player(publishers, clock_publisher, options)
        while not stop.is_set():
            player.play(bag.messages(topics), stop)
            if not options.loop:
                break
        for publisher in publishers.values():
            publisher.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))
    print(f"replay: published {player.published} messages", flush=True)
    return player.published


def _select_topics(bag: InputBag, requested: tuple[str, ...]) -> list[str]:
    """The requested topics (all must exist), or every topic whose message type is installed (not /clock)."""
    if requested:
        missing = [topic for topic in requested if topic not in bag.topics]
        if missing:
            raise BagError(f"{bag.path}: no topic {', '.join(missing)} (bag has: {', '.join(sorted(bag.topics))})")
        for topic in requested:
            message_class(bag.topics[topic])
        return list(requested)
    topics = []
    for topic, msgtype in sorted(bag.topics.items()):
        try:
            message_class(msgtype)
        except BagError as error:
            print(f"replay: skipping {topic}: {error}", flush=True)
            continue
        if topic != CLOCK_TOPIC:
            topics.append(topic)
    if not topics:
        raise BagError(f"{bag.path}: no topic with an installed message type to replay")
    return topics


def _wait_for_subscribers(publishers: dict[str, Any], options: ReplayOptions, stop: threading.Event) -> None:
    """Block until every topic has ``wait_for_subscribers`` subscribers; BagError after the timeout."""
    if options.wait_for_subscribers <= 0:
        return
    deadline = time.monotonic() + options.wait_timeout_s
    while not stop.is_set():
        short = [t for t, p in publishers.items() if p.get_subscription_count() < options.wait_for_subscribers]
        if not short:
            return
        if time.monotonic() > deadline:
            raise BagError(
                f"fewer than {options.wait_for_subscribers} subscriber(s) on {', '.join(short)} "
                f"after {options.wait_timeout_s:.0f} s (is the node running, on the same ROS_DOMAIN_ID?)"
            )
        stop.wait(0.05)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of replay."""
    defaults = ReplayOptions()
    parser.add_argument("bag", help="rosbag2 folder (or one .mcap file) to replay")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="speed factor: 2 plays twice as fast")
    parser.add_argument("--loop", action="store_true", help="start over at the end until SIGINT/SIGTERM")
    parser.add_argument(
        "--topics", nargs="+", default=[], help="topics to publish (default: every topic whose type is installed)"
    )
    parser.add_argument(
        "--clock-hz", type=float, default=defaults.clock_hz, help="/clock messages per second between messages (0: off)"
    )
    parser.add_argument(
        "--wait-for-subscribers",
        type=int,
        default=defaults.wait_for_subscribers,
        metavar="N",
        help="start only once every replayed topic has N subscribers (0: start at once)",
    )
    parser.add_argument(
        "--wait-timeout",
        type=float,
        default=defaults.wait_timeout_s,
        help="seconds to wait for those subscribers before giving up",
    )


def run(args: argparse.Namespace) -> int:
    """Run replay from parsed arguments."""
    options = ReplayOptions(
        args.rate, args.loop, tuple(args.topics), args.clock_hz, args.wait_for_subscribers, args.wait_timeout
    )
    replay(args.bag, options)
    return 0
