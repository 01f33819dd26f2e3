"""The fusion node: one lifecycle node class, run as ``fusion_node`` (it configures and activates itself at start)
and as ``fusion_lifecycle_node`` (it starts unconfigured and a lifecycle manager drives it).

Transitions as in ros2/demos' lifecycle_py: configure reads the parameters, loads the model and builds the
FusionPipeline (with the view source view_source names: synchronised cameras, or one camera's temporal ring
buffer), the (lifecycle) publishers and the inference worker; activate subscribes to the cameras and the
reference camera_info and starts the timers; deactivate unsubscribes (nothing is published while inactive);
cleanup releases the model. The node is a thin rclpy adapter over fusionvae_ros.pipeline: subscription callbacks
hand messages to the pipeline, a worker thread behind a latest-wins queue fuses each set (never a callback) and
publishes outputs.output_messages, so it fuses exactly like ``fusionvae_bag process``.

Topics (relative names, so a namespace applies): camera_topics in (sensor_msgs/Image, or CompressedImage on
<topic>/compressed with input_transport compressed), the reference camera's camera_info in, the fused/* outputs
(outputs.py) and /diagnostics out. Parameters: params.py; run-time changes are validated in the set-parameters
callback and applied after it. The camera subscriptions' QoS (input_reliability, input_queue_size) can also be
overridden the ROS way: qos_overrides./<topic>.subscription.{history,depth,reliability}. Bad views and sets are
dropped with a throttled warning and a per-reason count in /diagnostics.
"""

from __future__ import annotations

import signal
import sys
import time
from functools import partial
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from fusionvae_ros.camera_input import transport_topic
from fusionvae_ros.diagnostics import FusionStats
from fusionvae_ros.guard import CallbackGuard
from fusionvae_ros.node_parameters import declare_parameters, read_settings
from fusionvae_ros.output_geometry import sibling_camera_info_topic
from fusionvae_ros.outputs import FusedOutputs, output_messages
from fusionvae_ros.params import RUNTIME_PARAMETERS, SettingsError, check_runtime_value
from fusionvae_ros.pipeline import FusionPipeline, StartupError, load_model, one_line
from fusionvae_ros.sync import ViewSet
from fusionvae_ros.worker import LatestWinsQueue, Worker

NODE_NAME = "fusion_node"  # the plain and the managed node alike: the params file and the topics are shared
EXIT_STARTUP_ERROR = 2
CAMERA_MESSAGE_TYPES: dict[str, type] = {"raw": Image, "compressed": CompressedImage}  # by input_transport
#: Iron and later apply parameter changes in a post-set callback; Humble has none: the on-set callback applies them.
HAS_POST_SET_CALLBACK = hasattr(Node, "add_post_set_parameters_callback")


class FusionNode(LifecycleNode):
    """The fusion node (module docstring); ``managed`` False is the plain node, which ``start`` brings up."""

    _worker: Worker[ViewSet] | None = None  # set last: rclpy may destroy a half-built node
    configured = False  # pipeline, publishers and worker exist (between configure and cleanup)
    configure_error = ""  # why the last configure failed

    def __init__(self, managed: bool) -> None:
        super().__init__(NODE_NAME, enable_communication_interface=managed)
        self.managed = managed
        declare_parameters(self)
        self.add_on_set_parameters_callback(self._check_parameters)
        if HAS_POST_SET_CALLBACK:
            self.add_post_set_parameters_callback(self._apply_parameters)
        self._inputs: list[Any] = []  # camera and camera_info subscriptions while active

    def start(self) -> None:
        """Configure and activate (the plain node); StartupError with configure's reason if it fails."""
        self.trigger_configure()
        if not self.configured:
            raise StartupError(self.configure_error)
        self.trigger_activate()

    # --- lifecycle transitions (executor thread) ---

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the parameters, load the model, build the pipeline, publishers and worker; FAILURE (one line) if
        the parameters or the model are unusable."""
        try:
            settings = read_settings(self)
            backend, self.model_path = load_model(settings)
        except (StartupError, SettingsError) as error:
            self.configure_error = str(error)
            if self.managed:
                self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        self.stats = FusionStats(
            len(settings.camera_topics),
            silent_timeout=settings.diagnostics_silent_timeout,
            max_drop_fraction=settings.diagnostics_max_drop_fraction,
        )
        self.pipeline = FusionPipeline(settings, backend, self._drop, self.get_logger())
        self._jobs: LatestWinsQueue[ViewSet] = LatestWinsQueue(settings.inference_queue_size)
        self._outputs = FusedOutputs(
            self.create_lifecycle_publisher, settings.output_queue_size, settings.num_hypotheses
        )
        self._diagnostics_pub = self.create_lifecycle_publisher(DiagnosticArray, "/diagnostics", 10)
        self._guard = CallbackGuard(self._drop)  # every callback, timer and the worker: no exception escapes
        self._worker = Worker(self._jobs, self._guard.wrap("inference_error", self._fuse_and_publish))
        self._worker.start()
        self.configured = True
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Enable the publishers, subscribe to the cameras and the reference camera_info, start the timers."""
        result = super().on_activate(state)
        settings = self.pipeline.settings
        transport = settings.input_transport
        for camera, topic in enumerate(settings.camera_topics):
            on_view = self._guard.wrap("view_error", partial(self._on_view, camera), self.pipeline.where(camera))
            self._subscribe(CAMERA_MESSAGE_TYPES[transport], transport_topic(topic, transport), on_view)
        info_topic = settings.camera_info_topic or sibling_camera_info_topic(settings.camera_topics[0])
        on_camera_info = self._guard.wrap("camera_info_error", self._on_camera_info, f"camera_info ({info_topic})")
        self._subscribe(CameraInfo, info_topic, on_camera_info)
        poll_period = self.pipeline.source.poll_period_s
        self._poll_timer = self.create_timer(poll_period, self._guard.wrap("sync_error", self._poll_sync))
        self._poll_timer.cancel()  # runs only while views wait for partners (no idle wake-ups)
        # wall-clock period: reports keep coming while a replayed bag (use_sim_time) is paused
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        publish_diagnostics = self._guard.wrap("diagnostics_error", self._publish_diagnostics)
        self._diagnostics_timer = self.create_timer(settings.diagnostics_period, publish_diagnostics, clock=steady)
        backend = self.pipeline.backend
        if settings.view_source == "temporal":
            rate = f"at most {settings.fusion_rate:g} sets/s" if settings.fusion_rate else "every frame"
            inputs = (
                f"the newest frame of {settings.camera_topics[0]} with up to 2 earlier ones (window "
                f"{settings.temporal_window:g} s, at most {settings.temporal_max_frames} frames; {rate})"
            )
        else:
            inputs = f"{len(settings.camera_topics)} camera(s) {settings.camera_topics}"
        self.get_logger().info(
            f"fusing {inputs} with {settings.backend} model '{self.model_path}' ({backend.image_size}x"
            f"{backend.image_size}, {backend.channels} channel(s)), {settings.num_hypotheses} hypotheses per set"
        )
        self.get_logger().info(compositing_line(self.pipeline))
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop taking input, then disable the publishers."""
        self._stop_input()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the worker, destroy the publishers and release the model."""
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Leave cleanly from any state: stop input and the worker."""
        if self._inputs:
            self._stop_input()
        if self.configured:
            self._release()
        return super().on_shutdown(state)

    def destroy_node(self) -> None:
        """Stop the inference worker (if it started) before the publishers go away."""
        if self._worker is not None:
            self._worker.stop()
        super().destroy_node()

    def _subscribe(self, msg_type: type, topic: str, callback: Any) -> None:
        """An input subscription with the input QoS parameters, overridable by qos_overrides.<topic>.subscription.*."""
        settings = self.pipeline.settings
        qos = QoSProfile(  # a profile per subscription: rclpy writes each topic's overrides into it
            history=HistoryPolicy.KEEP_LAST,
            depth=settings.input_queue_size,
            reliability=ReliabilityPolicy.BEST_EFFORT
            if settings.input_reliability == "best_effort"
            else ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.VOLATILE,
        )
        overrides = QoSOverridingOptions.with_default_policies()
        self._inputs.append(self.create_subscription(msg_type, topic, callback, qos, qos_overriding_options=overrides))

    def _stop_input(self) -> None:
        """Unsubscribe, stop the timers, forget buffered views (a set in inference finishes)."""
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        self.destroy_timer(self._poll_timer)
        self.destroy_timer(self._diagnostics_timer)
        self.pipeline.source.reset()

    def _release(self) -> None:
        """Undo configure: stop the worker, destroy the publishers, release the model."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        for publisher in [*self._outputs.publishers(), self._diagnostics_pub]:
            self.destroy_lifecycle_publisher(publisher)
        del self.pipeline
        self.configured = False

    # --- input side (executor thread) ---

    def _on_view(self, camera: int, msg: Image | CompressedImage) -> None:
        """Hand a camera message to the pipeline; queue the sets it completes."""
        self.stats.record_view(camera)
        for view_set in self.pipeline.add_view(camera, msg, self.get_clock().now().nanoseconds):
            self._submit(view_set)
        if self.pipeline.source.buffered() and self._poll_timer.is_canceled():
            self._poll_timer.reset()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        """Keep the reference camera's latest calibration for fused/camera_info."""
        self.pipeline.reference_info = msg

    def _poll_sync(self) -> None:
        """Timer: submit partial sets whose max_wait ran out (temporal: age out a silent camera's frames); stop
        polling once nothing is buffered."""
        for view_set in self.pipeline.poll(self.get_clock().now().nanoseconds):
            self._submit(view_set)
        if not self.pipeline.source.buffered():
            self._poll_timer.cancel()

    def _submit(self, view_set: ViewSet) -> None:
        """Queue a set for inference (evicting the oldest waiting set when full)."""
        self.stats.record_set(view_set.cameras, tuple(view.stamp_ns for view in view_set.views))
        evicted = self._jobs.put(view_set)
        if evicted is not None:
            self._drop("inference_busy", f"set from cameras {evicted.cameras} replaced by a newer one before inference")

    def _drop(self, reason: str, detail: str) -> None:
        """Count a dropped view/set and warn, at most once per reason every few seconds."""
        if self.stats.record_drop(reason):
            self.get_logger().warning(
                f"dropped ({reason}): {detail} (further '{reason}' drops in the next "
                f"{self.stats.warn_period:g} s are only counted in /diagnostics)"
            )

    # --- inference worker thread ---

    def _fuse_and_publish(self, view_set: ViewSet) -> None:
        """Fuse one set and publish its messages."""
        fused = self.pipeline.fuse(view_set)
        self._outputs.publish(output_messages(fused))
        latency_s = time.monotonic() - max(view.received_s for view in fused.views)
        self.stats.record_published(len(fused.hypotheses), latency_s, fused.backend_s, fused.compositing_s)

    # --- parameters and diagnostics (executor thread) ---

    def _check_parameters(self, parameters: list[Parameter[Any]]) -> SetParametersResult:
        """Refuse what the descriptors let through (rclpy already enforced types, ranges and read-only)."""
        for parameter in parameters:
            problem = check_runtime_value(parameter.name, parameter.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        if not HAS_POST_SET_CALLBACK:
            self._apply_parameters(parameters)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters: list[Parameter[Any]]) -> None:
        """Apply accepted run-time changes (an unconfigured node reads them at configure)."""
        changed = {p.name: p.value for p in parameters if p.name in RUNTIME_PARAMETERS}
        if not changed or not self.configured:
            return
        # index topics first: the worker may fuse with the new count as soon as it is set
        self._outputs.ensure_indexed_topics(changed.get("num_hypotheses", self.pipeline.settings.num_hypotheses))
        self.pipeline.update(changed)
        self.get_logger().info(f"parameters changed: {changed}")

    def _publish_diagnostics(self) -> None:
        """Timer: publish the counters, rates and latency percentiles on /diagnostics."""
        pipeline, settings = self.pipeline, self.pipeline.settings
        status = self.stats.report(
            name=f"{self.get_fully_qualified_name()}: fusion",  # unique per instance for an aggregator
            hardware_id=self.get_fully_qualified_name(),
            extra={
                "sync_resets": pipeline.source.resets,
                "sync_buffered_views": pipeline.source.buffered(),
                "view_source": settings.view_source,
                "backend": settings.backend,
                "model_path": str(self.model_path),
                "num_hypotheses": settings.num_hypotheses,
                "temperature": settings.temperature,
                "output_size": settings.output_size,
                "compositing": pipeline.compositing,
                "camera_info_received": pipeline.reference_info is not None,
                "colour_mismatch": "; ".join(
                    f"camera {camera}: {text}" for camera, text in sorted(pipeline.colour_mismatch.items())
                )
                or "none",
            },
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)


def compositing_line(pipeline: FusionPipeline) -> str:
    """One log line: whether the outputs keep the cameras' pixels, and why."""
    backend, wanted = pipeline.backend, pipeline.settings.compositing
    if not backend.has_visibility:
        return "compositing off: this model has no visibility head (outputs are its hypotheses everywhere)"
    source = "the compositing parameter" if wanted is not None else "the model's validation decision"
    state = "on: views' pixels where they show the scene" if pipeline.compositing else "off"
    return f"compositing {state} ({source})"


def main(args: list[str] | None = None) -> None:
    """Entry point of ``ros2 run fusionvae_ros fusion_node``: configured and active at start; exits 2 with one log
    line if start-up fails."""
    run_node(managed=False, args=args)


def run_node(managed: bool, args: list[str] | None) -> None:
    """Initialise rclpy, build the node (the plain one also configured and activated; exit 2 with one log line if
    that fails), spin until shutdown, clean up.

    Ctrl-C / SIGTERM (also repeated, as launch sends them) end the node cleanly with status 0, no traceback.
    """
    try:
        rclpy.init(args=args)
    except Exception as error:  # rclpy's RCLError for a missing --params-file or malformed --ros-args
        print(f"[FATAL] [{NODE_NAME}]: cannot start: {one_line(error)}", file=sys.stderr)
        sys.exit(EXIT_STARTUP_ERROR)
    try:
        node = FusionNode(managed)
        if not managed:
            node.start()
    except StartupError as error:
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
