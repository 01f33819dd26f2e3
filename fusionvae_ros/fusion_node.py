"""The fusion_node executable: synchronises 1-3 camera topics, fuses each view set, publishes the hypotheses.

Topics (relative names, so a namespace applies): camera_topics in (sensor_msgs/Image, or CompressedImage on
<topic>/compressed with input_transport compressed); fused/set_info (one per set: its header and number of
hypotheses), fused/hypotheses (num_hypotheses Images per set, published back to back, all with header.stamp =
newest view stamp of the set and one frame_id), fused/hypothesis_<i> (hypothesis i of each set), fused/mean
(Image), fused/uncertainty (32FC1 per-pixel std over the hypotheses), fused/camera_info (once the reference
camera's camera_info arrived) and /diagnostics out. Outputs are at the model's resolution or, with
output_size camera, the reference camera's (mono8 for grey models, rgb8 for RGB models). Bad views and sets are
dropped with a throttled warning and a per-reason count in /diagnostics; set composition (K, camera indices)
is logged at debug level and reported in /diagnostics. Each view is decoded and brought to the model's format
as it arrives (spreading that work over the arrivals); inference runs on a worker thread behind a latest-wins
queue, never in a subscription callback.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from fusionvae_ros.camera_input import colour_mismatch, decode_view, message_type, transport_topic
from fusionvae_ros.diagnostics import FusionStats
from fusionvae_ros.fusion import MODEL_ENCODINGS, fuse_views, prepare_view
from fusionvae_ros.guard import CallbackGuard, one_line, stamp_nanoseconds
from fusionvae_ros.image_codec import ImageFormatError
from fusionvae_ros.noise_seed import set_noise_seed
from fusionvae_ros.output_geometry import output_geometry, sibling_camera_info_topic
from fusionvae_ros.outputs import FusedOutputs
from fusionvae_ros.package_files import resolve_model_path
from fusionvae_ros.params import (
    RUNTIME_PARAMETERS,
    NodeSettings,
    SettingsError,
    check_runtime_value,
    declare_parameters,
)
from fusionvae_ros.sync import View, ViewSet, ViewSynchroniser
from fusionvae_ros.worker import LatestWinsQueue, Worker

if TYPE_CHECKING:  # the core (and with it torch) is imported only when a model is loaded
    from fusionvae_core.inference import InferenceBackend

NODE_NAME = "fusion_node"
SYNC_POLL_PERIOD_S = 0.005  # how often partial sets are checked for expiry (bounds their extra latency)
EXIT_STARTUP_ERROR = 2


class StartupError(RuntimeError):
    """The node cannot start (bad parameter, missing or corrupt model); the message is one line for the log."""


@dataclass(frozen=True)
class CameraView:
    """A validated camera message: its pixels with their encoding, and where/when it was taken."""

    pixels: np.ndarray  # [H, W, C] uint8/uint16 as decoded, or already in the model's format
    encoding: str
    frame_id: str
    stamp: TimeMsg
    received_s: float  # time.monotonic() at receipt, for latency
    source_size: tuple[int, int] | None = None  # (width, height) as received, if pixels were resized since

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the camera image as received."""
        return self.source_size or (self.pixels.shape[1], self.pixels.shape[0])


@dataclass(frozen=True)
class FusionJob:
    """A synchronised set on its way to the inference worker."""

    views: tuple[CameraView, ...]
    cameras: tuple[int, ...]
    newest: CameraView  # stamps the outputs
    stamp_ns: int  # the newest view's stamp: with the seed parameter it picks the set's noise (set_noise_seed)


def load_model(settings: NodeSettings) -> tuple[InferenceBackend, Path]:
    """Load the configured backend and model, turning every failure into a one-line StartupError."""
    path = resolve_model_path(settings.model_path)
    try:
        from fusionvae_core.inference import load_backend  # lazy: keeps torch & co. out of import time
    except ImportError as error:
        raise StartupError(f"cannot import the inference backends (fusionvae_core.inference): {error}") from None
    try:
        backend = load_backend(str(path), backend=settings.backend, device=settings.device)
    except Exception as error:  # BackendError and whatever a runtime raises for a corrupt file: one clear line
        raise StartupError(f"cannot load model '{path}' with backend {settings.backend}: {one_line(error)}") from None
    if backend.channels not in (1, 3):
        raise StartupError(f"model '{path}' has {backend.channels} channels; the node supports 1 (grey) or 3 (RGB)")
    return backend, path


class FusionCore(Node):
    """The fusion pipeline of the plain and the managed node: subscribes to the cameras, synchronises views,
    fuses sets on a worker thread, publishes the results.

    Its stages follow the ROS 2 lifecycle: ``_declare`` (parameters), ``_configure`` (settings, model,
    publishers, worker), ``_activate`` (subscriptions, timers), ``_deactivate`` and ``_cleanup``. The plain
    FusionNode runs the first three at construction; LifecycleFusionNode runs them on transitions.
    """

    _worker: Worker[FusionJob] | None = None  # set last: rclpy may destroy a half-built node
    configured = False  # settings, model, publishers and worker exist (between configure and cleanup)

    def _declare(self) -> None:
        """Declare the parameters (defaults and descriptors) and accept run-time changes of the runtime ones."""
        try:
            declare_parameters(self)
        except (InvalidParameterValueException, InvalidParameterTypeException) as error:
            raise StartupError(f"invalid parameter: {one_line(error)}") from None
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _create_output_publisher(self, msg_type: type, topic: str, depth: int) -> Any:
        """A publisher for an output topic (the managed node makes lifecycle publishers)."""
        return self.create_publisher(msg_type, topic, depth)

    def _configure(self) -> None:
        """Read the parameters, load the model, create the publishers and start the inference worker."""
        self.settings = NodeSettings.from_node(self)
        self.registration = self.settings.view_registration()
        self.backend, self.model_path = load_model(self.settings)
        num_cameras = len(self.settings.camera_topics)
        self.stats = FusionStats(
            num_cameras,
            silent_timeout=self.settings.diagnostics_silent_timeout,
            max_drop_fraction=self.settings.diagnostics_max_drop_fraction,
        )
        self.sync = ViewSynchroniser(
            num_cameras,
            slop=self.settings.slop,
            max_wait=self.settings.max_wait,
            queue_size=self.settings.sync_queue_size,
            reset_jump=self.settings.reset_jump,
            on_drop=self._on_sync_drop,
        )
        self._jobs: LatestWinsQueue[FusionJob] = LatestWinsQueue(self.settings.inference_queue_size)
        self._outputs = FusedOutputs(
            self._create_output_publisher, self.settings.output_queue_size, self.settings.num_hypotheses
        )
        self._reference_info: CameraInfo | None = None  # the reference camera's latest calibration
        self._colour_mismatch: dict[int, str] = {}  # camera -> what the model does with its colours
        self._diagnostics_pub = self._create_output_publisher(DiagnosticArray, "/diagnostics", 10)
        self._inputs: list[Any] = []  # camera and camera_info subscriptions while active
        self._guard = CallbackGuard(self._drop)  # every callback, timer and the worker: no exception escapes
        self._worker = Worker(self._jobs, self._guard.wrap("inference_error", self._fuse_and_publish))
        self._worker.start()
        self.configured = True

    def _activate(self) -> None:
        """Subscribe to the cameras and the reference camera_info; start the sync poll and diagnostics timers."""
        input_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=self.settings.input_queue_size,
            reliability=ReliabilityPolicy.BEST_EFFORT
            if self.settings.input_reliability == "best_effort"
            else ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.VOLATILE,
        )
        transport = self.settings.input_transport
        self._inputs = []
        for camera, topic in enumerate(self.settings.camera_topics):
            on_view = self._guard.wrap("view_error", partial(self._on_view, camera), f"camera {camera} ({topic})")
            subscription = self.create_subscription(
                message_type(transport), transport_topic(topic, transport), on_view, input_qos
            )
            self._inputs.append(subscription)
        info_topic = self.settings.camera_info_topic or sibling_camera_info_topic(self.settings.camera_topics[0])
        on_camera_info = self._guard.wrap("camera_info_error", self._on_camera_info, f"camera_info ({info_topic})")
        self._inputs.append(self.create_subscription(CameraInfo, info_topic, on_camera_info, input_qos))
        self._poll_timer = self.create_timer(SYNC_POLL_PERIOD_S, self._guard.wrap("sync_error", self._poll_sync))
        self._poll_timer.cancel()  # runs only while views wait for partners (no idle wake-ups)
        # wall-clock period: reports keep coming while a replayed bag (use_sim_time) is paused
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        publish_diagnostics = self._guard.wrap("diagnostics_error", self._publish_diagnostics)
        self._diagnostics_timer = self.create_timer(self.settings.diagnostics_period, publish_diagnostics, clock=steady)
        self.get_logger().info(
            f"fusing {len(self.settings.camera_topics)} camera(s) {self.settings.camera_topics} with "
            f"{self.settings.backend} model '{self.model_path}' ({self.backend.image_size}x"
            f"{self.backend.image_size}, {self.backend.channels} channel(s)), {self.settings.num_hypotheses} "
            "hypotheses per set"
        )

    def _deactivate(self) -> None:
        """Stop taking input: unsubscribe, stop the timers, forget buffered views (a set in inference finishes)."""
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        self.destroy_timer(self._poll_timer)
        self.destroy_timer(self._diagnostics_timer)
        self.sync.reset()

    def _cleanup(self) -> None:
        """Undo ``_configure``: stop the worker, destroy the publishers, release the model."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        for publisher in [*self._outputs.publishers(), self._diagnostics_pub]:
            self._destroy_output_publisher(publisher)
        del self.backend
        self.configured = False

    def _destroy_output_publisher(self, publisher: Any) -> None:
        """Destroy a publisher made by ``_create_output_publisher``."""
        self.destroy_publisher(publisher)

    def destroy_node(self) -> None:
        """Stop the inference worker (if it started) before the publishers go away."""
        if self._worker is not None:
            self._worker.stop()
        super().destroy_node()

    # --- input side (executor thread) ---

    def _on_view(self, camera: int, msg: Image | CompressedImage) -> None:
        """Validate a camera message, bring it to the model's format (spreads that work over arrivals), sync it."""
        received_s = time.monotonic()
        self.stats.record_view(camera)
        now_ns = self.get_clock().now().nanoseconds
        stamp_ns = stamp_nanoseconds(msg.header.stamp)  # RejectedInputError (stamp_invalid): the guard counts it
        where = f"camera {camera} ({self.settings.camera_topics[camera]})"
        stamp_problem = self._stamp_problem(stamp_ns, now_ns)
        if stamp_problem:
            self._drop(stamp_problem[0], f"{where}: {stamp_problem[1]}")
            return
        channels, size = self.backend.channels, self.backend.image_size
        try:
            decoded = decode_view(msg, self.settings.input_transport, self.settings.max_image_pixels, size)
        except ImageFormatError as error:
            self._drop(error.reason, f"{where}: {error}")
            return
        if camera not in self._colour_mismatch:
            self._check_colours(camera, where, decoded.encoding)
        pixels = self.registration.warp(camera, decoded.pixels, decoded.camera_size)
        view = CameraView(
            prepare_view(pixels, decoded.encoding, channels, size, self.settings.resize_mode),
            MODEL_ENCODINGS[channels],
            msg.header.frame_id,
            msg.header.stamp,
            received_s,
            source_size=decoded.camera_size,
        )
        resets = self.sync.resets
        ready = self.sync.add(camera, stamp_ns, view, now_ns)
        if self.sync.resets != resets:
            self.get_logger().info(f"{where}: stamp jumped backwards (bag loop?); synchroniser reset")
        for view_set in ready:
            self._submit(view_set)
        if self.sync.buffered() and self._poll_timer.is_canceled():
            self._poll_timer.reset()

    def _check_colours(self, camera: int, where: str, encoding: str) -> None:
        """Warn once per camera when its colours do not match the model's (colour dropped or grey replicated)."""
        mismatch = colour_mismatch(encoding, self.backend.channels)
        self._colour_mismatch[camera] = mismatch or "none"
        if mismatch:
            self.get_logger().warning(f"{where}: {mismatch}")

    def _on_camera_info(self, msg: CameraInfo) -> None:
        """Keep the reference camera's latest calibration for fused/camera_info."""
        self._reference_info = msg

    def _stamp_problem(self, stamp_ns: int, now_ns: int) -> tuple[str, str] | None:
        """(reason, detail) if the stamp is too far in the future or past; no check before the clock runs."""
        if now_ns == 0:  # use_sim_time before the first /clock message
            return None
        offset_s = (stamp_ns - now_ns) / 1e9
        if offset_s > self.settings.future_tolerance:
            return (
                "stamp_future",
                f"stamp {offset_s:.3f} s ahead of now (future_tolerance {self.settings.future_tolerance} s)",
            )
        if -offset_s > self.settings.max_age:
            return "stamp_old", f"stamp {-offset_s:.3f} s before now (max_age {self.settings.max_age} s)"
        return None

    def _poll_sync(self) -> None:
        """Timer: submit partial sets whose max_wait ran out; stop polling once nothing is buffered."""
        for view_set in self.sync.poll(self.get_clock().now().nanoseconds):
            self._submit(view_set)
        if not self.sync.buffered():
            self._poll_timer.cancel()

    def _submit(self, view_set: ViewSet) -> None:
        """Check a synchronised set and queue it for inference (evicting the oldest waiting set when full)."""
        views = tuple(view.payload for view in view_set.views)
        sizes = sorted({view.size for view in views})
        if len(sizes) > 1:
            self._drop("mismatched_sizes", f"set from cameras {view_set.cameras} has views of sizes {sizes}")
            return
        self.stats.record_set(view_set.cameras)
        self.get_logger().debug(
            f"set K={len(views)} cameras={list(view_set.cameras)} spread={view_set.spread_ns / 1e6:.2f} ms"
        )
        evicted = self._jobs.put(FusionJob(views, view_set.cameras, view_set.newest.payload, view_set.newest.stamp_ns))
        if evicted is not None:
            self._drop("inference_busy", f"set from cameras {evicted.cameras} replaced by a newer one before inference")

    def _on_sync_drop(self, reason: str, view: View) -> None:
        """The synchroniser discarded a view (overflow, late, superseded, reset): count and warn."""
        self._drop(reason, f"camera {view.camera} view stamped {view.stamp_ns / 1e9:.3f} s")

    def _drop(self, reason: str, detail: str) -> None:
        """Count a dropped view/set and warn, at most once per reason every few seconds."""
        if self.stats.record_drop(reason):
            self.get_logger().warning(
                f"dropped ({reason}): {detail} (further '{reason}' drops in the next "
                f"{self.stats.warn_period:g} s are only counted in /diagnostics)"
            )

    # --- inference worker thread ---

    def _fuse_and_publish(self, job: FusionJob) -> None:
        """Fuse one set (noise from the seed parameter and the set's stamp, as offline processing does), publish."""
        settings = self.settings
        fused = fuse_views(
            self.backend,
            [(view.pixels, view.encoding) for view in job.views],
            settings.resize_mode,
            settings.num_hypotheses,
            settings.temperature,
            set_noise_seed(settings.seed, job.stamp_ns),
        )
        info = self._reference_info
        frame_id = settings.output_frame_id or (info.header.frame_id if info else "") or job.newest.frame_id
        camera_size = job.views[0].size  # every view of a set has the same size
        geometry = output_geometry(camera_size, self.backend.image_size, settings.resize_mode, settings.output_size)
        reference = (info, camera_size) if info else None
        header = Header(stamp=job.newest.stamp, frame_id=frame_id)
        self._outputs.publish(fused, header, geometry, reference, job.cameras)
        latency_s = time.monotonic() - max(view.received_s for view in job.views)
        self.stats.record_published(len(fused.hypotheses), latency_s, fused.backend_s)

    # --- parameters and diagnostics (executor thread) ---

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Accept run-time changes (rclpy already enforced types, ranges and read-only) and apply them."""
        for parameter in parameters:
            problem = check_runtime_value(parameter.name, parameter.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        changed = {p.name: p.value for p in parameters if p.name in RUNTIME_PARAMETERS}
        if not self.configured:  # unconfigured managed node: configure reads the new values
            return SetParametersResult(successful=True)
        # index topics first: the worker may fuse with the new count as soon as it is set
        self._outputs.ensure_indexed_topics(changed.get("num_hypotheses", self.settings.num_hypotheses))
        for name, value in changed.items():
            setattr(self.settings, name, value)
        self.sync.set_slop(self.settings.slop)
        self.sync.set_max_wait(self.settings.max_wait)
        if changed:
            self.get_logger().info(f"parameters changed: {changed}")
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        """Timer: publish the counters, rates and latency percentiles on /diagnostics."""
        status = self.stats.report(
            name=f"{self.get_fully_qualified_name()}: fusion",  # unique per instance for an aggregator
            hardware_id=self.get_fully_qualified_name(),
            extra={
                "sync_resets": self.sync.resets,
                "sync_buffered_views": self.sync.buffered(),
                "backend": self.settings.backend,
                "model_path": str(self.model_path),
                "num_hypotheses": self.settings.num_hypotheses,
                "temperature": self.settings.temperature,
                "output_size": self.settings.output_size,
                "camera_info_received": self._reference_info is not None,
                "colour_mismatch": "; ".join(
                    f"camera {camera}: {text}" for camera, text in sorted(self._colour_mismatch.items())
                )
                or "none",
            },
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)


class FusionNode(FusionCore):
    """The plain (unmanaged) fusion node: configured and active as soon as it is constructed."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self._declare()
        self._configure()
        self._activate()


def main(args: list[str] | None = None) -> None:
    """Entry point of ``ros2 run fusionvae_ros fusion_node``: exits 2 with one log line if start-up fails."""
    run_node(FusionNode, args)


def run_node(make_node: Callable[[], Node], args: list[str] | None) -> None:
    """Initialise rclpy, build the node (exit 2 with one log line if that fails), spin until shutdown, clean up.

    Ctrl-C / SIGTERM (also repeated, as launch sends them) end the node cleanly with status 0, no traceback.
    """
    try:
        rclpy.init(args=args)
    except Exception as error:  # rclpy's RCLError for a missing --params-file or malformed --ros-args
        print(f"[FATAL] [{NODE_NAME}]: cannot start: {one_line(error)}", file=sys.stderr)
        sys.exit(EXIT_STARTUP_ERROR)
    try:
        node = make_node()
    except (StartupError, SettingsError) as error:
        get_logger(NODE_NAME).fatal(str(error))
        rclpy.try_shutdown()
        sys.exit(EXIT_STARTUP_ERROR)
    except KeyboardInterrupt:  # Ctrl-C while the model loads or the node starts
        ignore_stop_signals()  # more Ctrl-C while rclpy destroys the half-built node: no traceback either
        rclpy.try_shutdown()
        return
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        ignore_stop_signals()  # a second Ctrl-C must not interrupt the teardown with a traceback
        node.destroy_node()
        rclpy.try_shutdown()


def ignore_stop_signals() -> None:
    """Ignore SIGINT and SIGTERM from now on: the process is already on its way out."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


if __name__ == "__main__":
    main()
