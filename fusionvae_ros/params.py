"""The fusion node's parameters: names, defaults, descriptions and ranges, and their validated settings object.

config/fusionvae.yaml repeats these defaults for users (a test keeps the two in step). Only ``RUNTIME_PARAMETERS``
may change while the node runs; every other parameter is read-only after start-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from fusionvae_ros.camera_input import INPUT_TRANSPORTS
from fusionvae_ros.fusion import MODEL_TEMPERATURE
from fusionvae_ros.output_geometry import OUTPUT_SIZES
from fusionvae_ros.preprocess import RESIZE_MODES
from fusionvae_ros.registration import IDENTITY, RegistrationError, ViewRegistration, parse_homography

BACKENDS = ("onnxruntime", "torch", "tensorrt")
RELIABILITIES = ("best_effort", "reliable")
MAX_CAMERAS = 3
MAX_NUM_HYPOTHESES = 16
HOMOGRAPHY_PARAMETERS = {1: "homography_1", 2: "homography_2"}  # camera index -> parameter
RUNTIME_PARAMETERS = ("slop", "max_wait", "num_hypotheses", "temperature")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: default (which fixes its type), description, optional range and allowed values."""

    name: str
    default: Any
    description: str
    limits: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None

    def descriptor(self) -> ParameterDescriptor:
        """The ParameterDescriptor rclpy enforces (type, range, read-only) and tools display."""
        descriptor = ParameterDescriptor(
            name=self.name, description=self.description, read_only=self.name not in RUNTIME_PARAMETERS
        )
        if self.choices:
            descriptor.additional_constraints = f"one of: {', '.join(self.choices)}"
        if self.limits and isinstance(self.default, float):
            low, high = self.limits
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)
            ]
        elif self.limits:
            low, high = self.limits
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        return descriptor


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "camera_topics",
        ["camera_0/image_raw", "camera_1/image_raw", "camera_2/image_raw"],
        "image topics of the 1-3 cameras that view the scene (camera index = position in this list); with "
        "input_transport compressed the node subscribes <topic>/compressed, as image_transport does",
    ),
    ParamSpec(
        "input_transport",
        "raw",
        "raw: sensor_msgs/Image on each camera topic; compressed: sensor_msgs/CompressedImage (JPEG/PNG) on "
        "<topic>/compressed",
        choices=INPUT_TRANSPORTS,
    ),
    ParamSpec(
        "homography_1",
        list(IDENTITY),
        "row-major 3x3 homography from camera 1's pixels to camera 0's, applied before fusion (views must show one "
        "viewpoint); identity = already aligned. `fusionvae_bag register` estimates it",
    ),
    ParamSpec(
        "homography_2",
        list(IDENTITY),
        "row-major 3x3 homography from camera 2's pixels to camera 0's, applied before fusion; identity = aligned",
    ),
    ParamSpec("slop", 0.01, "largest stamp difference (s) between views fused into one set", (0.0, 1.0)),
    ParamSpec("max_wait", 0.05, "how long (s) to wait for missing views before fusing a partial set", (0.0, 5.0)),
    ParamSpec("num_hypotheses", 3, "hypotheses sampled and published per fused set", (1, MAX_NUM_HYPOTHESES)),
    ParamSpec(
        "temperature",
        MODEL_TEMPERATURE,
        "sampling temperature (scale of the prior's standard deviation, 0 = its mode); -1 = the model's recommended "
        "one from its metadata (a shipped model's validation-best)",
        (MODEL_TEMPERATURE, 3.0),
    ),
    ParamSpec("backend", "onnxruntime", "inference backend", choices=BACKENDS),
    ParamSpec(
        "model_path",
        "",
        "model file: ONNX for onnxruntime/tensorrt, training checkpoint (.pt) for torch; "
        "empty = models/fusion_mnist/model.onnx of this package",
    ),
    ParamSpec("device", "cpu", "inference device, e.g. cpu or cuda:0 (backends that support it)"),
    ParamSpec(
        "output_frame_id",
        "",
        "frame_id of the outputs; empty = the reference camera_info's frame_id once received, else the frame_id "
        "of the newest view of each set",
    ),
    ParamSpec(
        "output_size",
        "model",
        "model: outputs at the model's square size; camera: at the reference camera's resolution (its width x "
        "height, or the centre square with center_crop)",
        choices=OUTPUT_SIZES,
    ),
    ParamSpec(
        "camera_info_topic",
        "",
        "sensor_msgs/CameraInfo of the reference camera (camera 0), republished matching the outputs on "
        "fused/camera_info; empty = the camera_info topic next to the first camera topic",
    ),
    ParamSpec(
        "resize_mode",
        "resize",
        "fit views to the model: squeeze whole view or crop centre square first",
        choices=RESIZE_MODES,
    ),
    ParamSpec("input_reliability", "best_effort", "QoS reliability of the camera subscriptions", choices=RELIABILITIES),
    ParamSpec("input_queue_size", 5, "history depth of each camera subscription", (1, 100)),
    ParamSpec("sync_queue_size", 10, "views buffered per camera while waiting for their partners", (1, 100)),
    ParamSpec("inference_queue_size", 1, "fused sets waiting for inference; the oldest is dropped when full", (1, 10)),
    ParamSpec("output_queue_size", 5, "history depth of the output topics, in fused sets", (1, 100)),
    ParamSpec(
        "seed",
        -1,
        "noise seed: -1 = fresh noise every set; else each set's noise follows from seed and its stamp "
        "(the same set gives the same hypotheses live and in offline bag processing)",
        (-1, 2**31 - 1),
    ),
    ParamSpec("diagnostics_period", 1.0, "seconds between /diagnostics reports", (0.05, 60.0)),
    ParamSpec(
        "diagnostics_silent_timeout",
        2.0,
        "/diagnostics: a camera without messages for this long (s) is a WARN, all cameras an ERROR",
        (0.1, 3600.0),
    ),
    ParamSpec(
        "diagnostics_max_drop_fraction",
        0.1,
        "/diagnostics: WARN when drops exceed this share of drops plus fused sets within a report period",
        (0.0, 1.0),
    ),
    ParamSpec("max_image_pixels", 3840 * 2160, "larger images (width*height) are dropped as bad input", (1, 2**31 - 1)),
    ParamSpec("future_tolerance", 0.5, "views stamped more than this (s) after now are dropped", (0.0, 60.0)),
    ParamSpec("max_age", 5.0, "views stamped more than this (s) before now are dropped", (0.001, 86400.0)),
    ParamSpec(
        "reset_jump", 1.0, "a stamp this much (s) older than the newest seen resets the synchroniser", (0.0, 3600.0)
    ),
)


class SettingsError(ValueError):
    """A parameter value the node cannot start with; the message names the parameter and what was expected."""


@dataclass
class NodeSettings:
    """All parameter values, read once at start-up; the runtime-changeable ones are updated in place."""

    camera_topics: list[str]
    input_transport: str
    homography_1: list[float]
    homography_2: list[float]
    slop: float
    max_wait: float
    num_hypotheses: int
    temperature: float
    backend: str
    model_path: str
    device: str
    output_frame_id: str
    output_size: str
    camera_info_topic: str
    resize_mode: str
    input_reliability: str
    input_queue_size: int
    sync_queue_size: int
    inference_queue_size: int
    output_queue_size: int
    seed: int
    diagnostics_period: float
    diagnostics_silent_timeout: float
    diagnostics_max_drop_fraction: float
    max_image_pixels: int
    future_tolerance: float
    max_age: float
    reset_jump: float

    @classmethod
    def from_node(cls, node: Node) -> NodeSettings:
        """Read the declared parameters and check what their descriptors cannot (choices, list length)."""
        values = {spec.name: node.get_parameter(spec.name).value for spec in PARAMETERS}
        for spec in PARAMETERS:
            if spec.choices and values[spec.name] not in spec.choices:
                raise SettingsError(f"parameter {spec.name}='{values[spec.name]}': expected one of {spec.choices}")
        topics = list(values["camera_topics"])
        if not 1 <= len(topics) <= MAX_CAMERAS or not all(topic.strip() for topic in topics):
            raise SettingsError(f"parameter camera_topics={topics}: expected 1 to {MAX_CAMERAS} non-empty topic names")
        if len(set(topics)) != len(topics):
            raise SettingsError(f"parameter camera_topics={topics}: topics must be distinct")
        values["camera_topics"] = topics
        for name in RUNTIME_PARAMETERS:
            problem = check_runtime_value(name, values[name])
            if problem:
                raise SettingsError(problem)
        settings = cls(**values | {name: list(values[name]) for name in HOMOGRAPHY_PARAMETERS.values()})
        settings.view_registration()  # fail at start-up, not per view
        return settings

    def view_registration(self) -> ViewRegistration:
        """The cameras' homographies into camera 0 (SettingsError for unusable matrices)."""
        try:
            return ViewRegistration(
                {camera: parse_homography(name, getattr(self, name)) for camera, name in HOMOGRAPHY_PARAMETERS.items()}
            )
        except RegistrationError as error:
            raise SettingsError(str(error)) from None


def declare_parameters(node: Node) -> None:
    """Declare every parameter with its default and descriptor (overrides come from --ros-args / params files)."""
    for spec in PARAMETERS:
        node.declare_parameter(spec.name, spec.default, spec.descriptor())


def check_runtime_value(name: str, value: Any) -> str | None:
    """Why a run-time change of ``name`` to ``value`` is refused, or None if it is acceptable.

    Ranges, types and read-only flags are enforced by rclpy from the descriptors; this adds what they let
    through (NaN passes a range check). Parameters that are not ours (use_sim_time) are rclpy's business.
    """
    if name in RUNTIME_PARAMETERS and isinstance(value, float) and not math.isfinite(value):
        return f"parameter {name} must be a finite number, got {value}"
    if name == "temperature" and isinstance(value, float) and value < 0 and value != MODEL_TEMPERATURE:
        return f"parameter temperature must be >= 0, or {MODEL_TEMPERATURE:g} for the model's own, got {value}"
    return None
