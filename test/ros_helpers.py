"""Helpers for tests that run the real fusion node: isolated ROS domains, the node as a subprocess, and an
in-process harness that publishes camera images and collects the node's outputs and /diagnostics.

Every test gets its own ROS_DOMAIN_ID and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, so parallel runs and other
machines never see each other. Processes are always stopped by the fixtures that start them. Tests wait on
events (the node's /diagnostics counters, received messages), never on fixed sleeps, with generous timeouts.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from fusionvae_ros.bag.process import node_settings, process_bag
from fusionvae_ros.bag.score import load_outputs
from fusionvae_ros.camera_input import transport_topic
from fusionvae_ros.demo import fuse_live
from fusionvae_ros.demo import ros_environment as demo_ros_environment
from fusionvae_ros.fusion_node import CAMERA_MESSAGE_TYPES
from fusionvae_ros.params import NodeSettings
from fusionvae_ros.pipeline import FusedSet, FusionPipeline

REPO = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = REPO / "models" / "fusion_mnist" / "model.onnx"
_domain_counter = itertools.count()
LOSSY_QUIET_S = 5.0  # best-effort input: view counts unchanged this long means the rest was lost, not late


def unique_domain_id() -> int:
    """A ROS domain id (100..199) unique within this process and unlikely to collide with other processes."""
    return 100 + (os.getpid() * 7 + next(_domain_counter)) % 100


def ros_environment(domain_id: int) -> dict[str, str]:
    """Environment for a ROS process of the test: the demo's (own domain, loopback discovery, the repo importable)
    with unbuffered, uncoloured logs."""
    return {**demo_ros_environment(domain_id), "RCUTILS_LOGGING_BUFFERED_STREAM": "0", "RCUTILS_COLORIZED_OUTPUT": "0"}


def run_demo(options: dict[str, object], domain_id: int) -> subprocess.CompletedProcess[str]:
    """`python -m fusionvae_ros.demo` with `options` (flag -> value) on `domain_id`, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "fusionvae_ros.demo", *(str(item) for option in options.items() for item in option)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ros_environment(domain_id),
        timeout=300,
    )


@dataclass(frozen=True)
class ModelInfo:
    """The model file the node tests run, with the resolution and channels its outputs must have, and the same
    model loaded in this process (ONNX Runtime, CPU) to recompute what the node should publish."""

    path: Path
    image_size: int
    channels: int
    backend: Any = field(compare=False, repr=False)


@functools.cache
def node_test_model() -> ModelInfo:
    """The shipped FusionMNIST model if present, else a randomly initialised `tiny` FusionVAE exported to ONNX
    (the export the inference tests use, made once per test run).

    Skips (with the reason) while the ONNX Runtime backend or the exporter is not available.
    """
    try:
        from fusionvae_core.inference import load_backend
    except ImportError as error:
        pytest.skip(f"fusionvae_core.inference is not available ({error}); the node needs an inference backend")
    if SHIPPED_MODEL.is_file():
        path = SHIPPED_MODEL
    else:
        try:
            from inference_helpers import exported_model
        except ImportError as error:
            pytest.skip(f"no shipped model and no exporter to make one ({error})")
        path = exported_model("tiny").onnx
    backend = load_backend(str(path), backend="onnxruntime", device="cpu")
    return ModelInfo(path, backend.image_size, backend.channels, backend)


def live_parameters(**overrides: object) -> dict[str, object]:
    """Node parameters the live tests share, ``overrides`` (camera_topics at least) on top: the test model, two
    hypotheses, diagnostics every 0.2 s and a max_wait long enough that a loaded machine never splits a complete
    set."""
    parameters: dict[str, object] = {
        "model_path": str(node_test_model().path),
        "max_wait": 0.3,
        "num_hypotheses": 2,
        "diagnostics_period": 0.2,
    }
    return parameters | overrides


def ros_arguments(parameters: dict[str, object]) -> list[str]:
    """Command-line arguments (``--ros-args -p name:=value ...``) that set ``parameters`` on a node."""
    arguments = ["--ros-args"]
    for name, value in parameters.items():
        arguments += ["-p", f"{name}:={format_parameter(value)}"]
    return arguments


def format_parameter(value: object) -> str:
    """A value as `--ros-args -p name:=value` text (YAML: floats keep their point, lists in brackets)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_parameter(item) for item in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


FUSION_NODE_COMMAND = (sys.executable, "-m", "fusionvae_ros.fusion_node")
LIFECYCLE_NODE_COMMAND = (sys.executable, "-m", "fusionvae_ros.lifecycle_node")


class NodeProcess:
    """A ROS node (default: `python -m fusionvae_ros.fusion_node`) in its own process, output in a log file."""

    def __init__(
        self,
        parameters: dict[str, object],
        domain_id: int,
        log_dir: Path,
        command: tuple[str, ...] = FUSION_NODE_COMMAND,
    ) -> None:
        self.domain_id = domain_id
        self.log_path = log_dir / f"node_{domain_id}_{time.monotonic_ns()}.log"
        arguments = ros_arguments(parameters)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=ros_environment(domain_id),
                cwd=log_dir,
            )

    def output(self) -> str:
        """Everything the node printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        """Wait for the node to exit; its exit code."""
        return self.process.wait(timeout)

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def stop(self) -> int:
        """Ask the node to stop (SIGINT, like Ctrl-C / ros2 launch), kill it if it does not; its exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                return self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(10)


@dataclass(frozen=True)
class Received:
    """One message the harness received and when (time.monotonic())."""

    msg: object
    at: float


def stamp_ns(msg: Image) -> int:
    """header.stamp of a message in nanoseconds."""
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def count(report: dict[str, str], key: str) -> int:
    """An integer counter of a /diagnostics report (0 while the node has not counted anything under ``key``)."""
    return int(report.get(key, "0"))


def sets_in_flight(report: dict[str, str]) -> int:
    """Sets the synchroniser emitted that are still waiting for or inside inference, per a /diagnostics report."""
    emitted = sum(count(report, f"sets_k{k}") for k in range(1, 4))
    finished = count(report, "sets_published") + count(report, "drops_inference_busy")
    return emitted - finished - count(report, "drops_inference_error")


class RosHarness:
    """Test-side ROS node in its own context: camera publishers, output collectors, spun on a thread."""

    OUTPUTS = ("fused/hypotheses", "fused/mean", "fused/uncertainty")

    def __init__(self, domain_id: int, camera_topics: list[str], camera_type: type = Image) -> None:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("fusion_test_harness", context=self.context)
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.cameras = [self.node.create_publisher(camera_type, topic, reliable) for topic in camera_topics]
        self.published = [0] * len(camera_topics)  # camera images published per camera
        self._lock = threading.Lock()
        self.received: dict[str, list[Received]] = {topic: [] for topic in (*self.OUTPUTS, "/diagnostics")}
        self._collectors = [
            self.node.create_subscription(Image, topic, functools.partial(self._collect, topic), reliable)
            for topic in self.OUTPUTS
        ]
        self._collectors.append(
            self.node.create_subscription(
                DiagnosticArray, "/diagnostics", functools.partial(self._collect, "/diagnostics"), 10
            )
        )
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()

    def _spin(self) -> None:
        with contextlib.suppress(ExternalShutdownException):
            self.executor.spin()

    def _collect(self, topic: str, msg: object) -> None:
        with self._lock:
            self.received[topic].append(Received(msg, time.monotonic()))

    def collect(self, topic: str, msg_type: type) -> Any:
        """Also collect ``topic`` (reliable); its messages come from ``messages``. Returns the subscription."""
        with self._lock:
            self.received[topic] = []
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        return self.node.create_subscription(msg_type, topic, functools.partial(self._collect, topic), reliable)

    def messages(self, topic: str, since: float = 0.0) -> list[Received]:
        """Messages received on ``topic`` at or after monotonic time ``since``."""
        with self._lock:
            return [item for item in self.received[topic] if item.at >= since]

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``condition`` until it holds; fail the test naming ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.02)

    def wait_for_node(self, node: NodeProcess, timeout: float = 300.0) -> None:
        """Wait until the node subscribes to every camera, publishes every output and has sent a /diagnostics
        report here (so its writers know this reader); fails if the node died."""

        def connected() -> bool:
            if not node.alive():
                pytest.fail(f"node exited with {node.process.returncode}:\n{node.output()}")
            cameras = all(publisher.get_subscription_count() > 0 for publisher in self.cameras)
            outputs = all(collector.get_publisher_count() > 0 for collector in self._collectors)
            return cameras and outputs and bool(self.messages("/diagnostics"))

        self.wait_until(connected, timeout, "the node to connect")

    def publish(self, camera: int, image: Image | CompressedImage) -> None:
        """Publish one camera image."""
        self.cameras[camera].publish(image)
        self.published[camera] += 1

    def diagnostics_after(self, since: float, timeout: float = 120.0) -> dict[str, str]:
        """Key/values of the first /diagnostics report received after monotonic time ``since``."""
        self.wait_until(lambda: bool(self.messages("/diagnostics", since)), timeout, "a /diagnostics report")
        (status,) = self.messages("/diagnostics", since)[0].msg.status
        return {item.key: item.value for item in status.values}

    def settled_diagnostics(self, lossy_input: bool = False, timeout: float = 300.0) -> dict[str, str]:
        """The node's counters once everything published here is fully handled: a report in which the node has
        received every camera image published so far, buffers none, has no set waiting for or in inference,
        and whose published outputs have all arrived here. Waiting is event-driven, never a fixed sleep.

        With ``lossy_input`` (best-effort camera subscriptions) a report whose view counts stayed unchanged for
        LOSSY_QUIET_S also counts as settled; callers compare the node's view counts with ``published`` to detect
        a loss. The timeouts are generous: the suite must pass with both cores busy elsewhere.
        """
        first_seen: dict[tuple[int, ...], float] = {}  # view counts -> when a report first showed them
        deadline = time.monotonic() + timeout
        while True:
            report = self.diagnostics_after(time.monotonic())
            now = time.monotonic()
            views = tuple(count(report, f"views_received_cam{camera}") for camera in range(len(self.cameras)))
            all_views = list(views) == self.published
            if lossy_input and not all_views:
                all_views = now - first_seen.setdefault(views, now) >= LOSSY_QUIET_S
            outputs = [len(self.messages(topic)) for topic in self.OUTPUTS]
            expected = [count(report, "hypotheses_published"), *[count(report, "sets_published")] * 2]
            idle = count(report, "sync_buffered_views") == 0 and sets_in_flight(report) == 0
            if all_views and idle and outputs == expected:
                return report
            if now > deadline:
                pytest.fail(
                    f"timed out after {timeout} s waiting for the node to handle the camera images sent "
                    f"{self.published}; last report: {report}; outputs received {outputs}"
                )

    def close(self) -> None:
        """Shut the context down and join the spinner."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._spinner.join(5)


def camera_image(stamp: int, frame_id: str, size: tuple[int, int] = (48, 40), seed: int = 0) -> Image:
    """An rgb8 test image (width, height = ``size``) stamped ``stamp`` ns: a bright rectangle on noise."""
    width, height = size
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    pixels[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 220
    msg = Image(height=height, width=width, encoding="rgb8", step=width * 3, is_bigendian=0)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
    msg.header.frame_id = frame_id
    msg.data.frombytes(pixels.tobytes())
    return msg


HUGE_SIZE = (120, 100)  # the "too_large" malformed image: run the node with max_image_pixels below 12,000


def short_data(msg: Image) -> None:
    """One byte missing from the data."""
    msg.data = msg.data[:-1]


def wrong_step(msg: Image) -> None:
    """A row stride shorter than a row."""
    msg.step = msg.width * 3 - 2


def unknown_encoding(msg: Image) -> None:
    """An encoding the node does not decode."""
    msg.encoding = "yuv422_yuy2"


def zero_size(msg: Image) -> None:
    """An empty image."""
    msg.width, msg.height, msg.step, msg.data = 0, 0, 0, b""


def huge(msg: Image) -> None:
    """An image of HUGE_SIZE."""
    big = camera_image(stamp_ns(msg), msg.header.frame_id, size=HUGE_SIZE)
    msg.width, msg.height, msg.step, msg.data = big.width, big.height, big.step, big.data


def in_future(msg: Image) -> None:
    """Stamped 30 s ahead."""
    msg.header.stamp.sec += 30


def too_old(msg: Image) -> None:
    """Stamped a minute ago."""
    msg.header.stamp.sec -= 60


def negative_stamp(msg: Image) -> None:
    """A negative stamp (once a crash of the node)."""
    msg.header.stamp.sec = -msg.header.stamp.sec


def nanosec_out_of_range(msg: Image) -> None:
    """A stamp whose nanosec field holds two seconds."""
    msg.header.stamp.nanosec = 2_000_000_000


#: Malformed camera messages: kind -> (the drop reason the node counts, how to spoil a good camera_image).
MALFORMED: dict[str, tuple[str, Callable[[Image], None]]] = {
    "data_length": ("data_length", short_data),
    "step": ("step", wrong_step),
    "encoding": ("encoding", unknown_encoding),
    "zero_size": ("zero_size", zero_size),
    "too_large": ("too_large", huge),
    "stamp_future": ("stamp_future", in_future),
    "stamp_old": ("stamp_old", too_old),
    "negative_stamp": ("stamp_invalid", negative_stamp),
    "nanosec_out_of_range": ("stamp_invalid", nanosec_out_of_range),
}


@contextlib.contextmanager
def running_node(
    parameters: dict[str, object],
    log_dir: Path,
    camera_topics: list[str],
    command: tuple[str, ...] = FUSION_NODE_COMMAND,
) -> Iterator[tuple[NodeProcess, RosHarness]]:
    """A node process and a harness on ``camera_topics``, connected on a fresh domain; both stopped afterwards.

    The harness publishes the message type of the node's ``input_transport`` on the topics the node subscribes.
    """
    domain_id = unique_domain_id()
    transport = str(parameters.get("input_transport", "raw"))
    node = NodeProcess(parameters, domain_id, log_dir, command)
    try:
        topics = [transport_topic(topic, transport) for topic in camera_topics]
        harness = RosHarness(domain_id, topics, CAMERA_MESSAGE_TYPES[transport])
        try:
            harness.wait_for_node(node)
            yield node, harness
        finally:
            harness.close()
    finally:
        node.stop()


class LiveNode(NamedTuple):
    """A running fusion node process, the harness connected to it and the model it fuses with."""

    node: NodeProcess
    harness: RosHarness
    model: ModelInfo


def start_live_node(request: pytest.FixtureRequest, parameters: dict[str, object], log_dir: Path) -> LiveNode:
    """The fusion node on ``parameters`` (over live_parameters' defaults) and a harness on its cameras, torn down
    when the requesting fixture ends."""
    model = node_test_model()
    parameters = live_parameters(**parameters)
    stack = contextlib.ExitStack()
    request.addfinalizer(stack.close)
    node, harness = stack.enter_context(running_node(parameters, log_dir, list(parameters["camera_topics"])))
    return LiveNode(node, harness, model)


def fuse_offline(messages: list[Any], backend: Any = None, **parameters: object) -> FusedSet:
    """What the node fuses from one camera message per camera (camera order) with ``parameters``: the same
    FusionPipeline run here, on ``backend`` (default: the test model), with the stamp checks off (clock 0)."""
    topics = [f"camera_{camera}/image" for camera in range(len(messages))]
    settings = NodeSettings.from_values({"camera_topics": topics, **parameters})
    backend = backend or node_test_model().backend
    pipeline = FusionPipeline(settings, backend, _refuse_drop, logging.getLogger(__name__))
    view_sets = [view_set for camera, msg in enumerate(messages) for view_set in pipeline.add_view(camera, msg, 0)]
    (view_set,) = [*view_sets, *pipeline.flush()]
    return pipeline.fuse(view_set)


def _refuse_drop(reason: str, detail: str) -> None:
    """fuse_offline's inputs are good: a drop is a test bug."""
    raise AssertionError(f"dropped ({reason}): {detail}")


def fuse_live_and_offline(
    input_bag: Path, folder: Path, parameters: dict[str, object], num_hypotheses: int, seed: int
) -> tuple[Path, Path]:
    """``input_bag`` fused offline by ``process`` and live (node, recorder and replay as processes on a fresh domain,
    the node's log in ``folder``) with the same node ``parameters`` (model_path: the test model by default) and seed;
    the live recording waits for as many sets as process fused. Returns (live bag, offline bag) in ``folder``."""
    parameters = {"model_path": str(node_test_model().path), **parameters}
    model_path = Path(str(parameters["model_path"]))
    live_bag, offline_bag = folder / "live", folder / "offline"
    settings = node_settings(num_hypotheses=num_hypotheses, seed=seed, **parameters)
    process_bag(str(input_bag), str(offline_bag), settings)
    text = {name: format_parameter(value) for name, value in parameters.items() if name != "model_path"}
    expect_sets = len(load_outputs(str(offline_bag))[0])
    fuse_live(
        input_bag,
        live_bag,
        model_path,
        num_hypotheses,
        seed,
        unique_domain_id(),
        folder,
        parameters=text,
        expect_sets=expect_sets,
    )
    return live_bag, offline_bag
