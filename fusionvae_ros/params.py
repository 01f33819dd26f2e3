"""The fusion node's parameters in one table: `NodeSettings`, one field per parameter with its default, description,
range, choices and whether it may change while the node runs. ROS-free.

Everything else derives from it: ``PARAMETERS`` (the specs node_parameters.py declares with descriptors), the
validated settings the node and ``bag process`` run with (``NodeSettings.from_values``), process's command-line
options; config/fusionvae.yaml lists the same names and defaults (test_params.py keeps the two in step).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fusionvae_core.data.framing import FIXED_MODES
from fusionvae_ros.camera_input import INPUT_TRANSPORTS
from fusionvae_ros.output_geometry import OUTPUT_SIZES
from fusionvae_ros.registration import IDENTITY, RegistrationError, ViewRegistration, parse_homography

BACKENDS = ("onnxruntime", "torch", "tensorrt")
RELIABILITIES = ("best_effort", "reliable")
VIEW_SOURCES = ("cameras", "temporal")
MAX_CAMERAS = 3
MAX_NUM_HYPOTHESES = 16
HOMOGRAPHY_PARAMETERS = {1: "homography_1", 2: "homography_2"}  # camera index -> parameter
#: `temperature` value that means "the model's recommended temperature" (from its metadata).
MODEL_TEMPERATURE = -1.0


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: default (which fixes its type; None: declared without a value, of `unset_type`),
    description, optional range and allowed values, and whether it may change at run time (every other parameter
    is read-only once declared)."""

    name: str
    default: Any
    description: str
    limits: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    runtime: bool = False
    unset_type: type | None = None

    @property
    def value_type(self) -> type:
        """The type of the parameter's values."""
        return self.unset_type or type(self.default)


def parameter(
    default: Any,
    description: str,
    limits: tuple[float, float] | None = None,
    choices: tuple[str, ...] | None = None,
    runtime: bool = False,
    unset_type: type | None = None,
) -> Any:
    """A NodeSettings field: its default and, as metadata, the rest of its ParamSpec."""
    spec = {
        "default": default,
        "description": description,
        "limits": limits,
        "choices": choices,
        "runtime": runtime,
        "unset_type": unset_type,
    }
    return field(default_factory=lambda: copy.copy(default), metadata=spec)


class SettingsError(ValueError):
    """A parameter value the node cannot start with; the message names the parameter and what was expected."""


@dataclass
class NodeSettings:
    """The parameter table and, as an instance, the values a node runs with (run-time ones updated in place)."""

    camera_topics: list[str] = parameter(
        ["camera_0/image_raw", "camera_1/image_raw", "camera_2/image_raw"],
        "image topics of the 1-3 cameras that view the scene (camera index = position in this list); with "
        "input_transport compressed the node subscribes <topic>/compressed, as image_transport does",
    )
    view_source: str = parameter(
        "cameras",
        "cameras: fuse synchronised views of the 1-3 camera_topics; temporal: one fixed camera (camera_topics names "
        "exactly one), each new frame fused with up to two earlier frames of a ring buffer (temporal_window, "
        "temporal_max_frames, fusion_rate)",
        choices=VIEW_SOURCES,
    )
    input_transport: str = parameter(
        "raw",
        "raw: sensor_msgs/Image on each camera topic; compressed: sensor_msgs/CompressedImage (JPEG/PNG) on "
        "<topic>/compressed",
        choices=INPUT_TRANSPORTS,
    )
    homography_1: list[float] = parameter(
        list(IDENTITY),
        "row-major 3x3 homography from camera 1's pixels to camera 0's, applied before fusion (views must show one "
        "viewpoint); identity = already aligned. `fusionvae_bag register` estimates it",
    )
    homography_2: list[float] = parameter(
        list(IDENTITY),
        "row-major 3x3 homography from camera 2's pixels to camera 0's, applied before fusion; identity = aligned",
    )
    slop: float = parameter(
        0.01, "largest stamp difference (s) between views fused into one set", (0.0, 1.0), runtime=True
    )
    max_wait: float = parameter(
        0.05, "how long (s) to wait for missing views before fusing a partial set", (0.0, 5.0), runtime=True
    )
    temporal_window: float = parameter(
        1.0,
        "view_source temporal: how far back (s) frames are kept to be fused with the newest; a camera silent this "
        "long empties the buffer",
        (0.05, 10.0),
    )
    temporal_max_frames: int = parameter(
        30, "view_source temporal: frames kept at most (the oldest leaves first)", (2, 120)
    )
    fusion_rate: float = parameter(
        10.0,
        "view_source temporal: fused sets per second at most (the first frame at or after each 1/fusion_rate s of "
        "stamps is fused); 0 = every frame",
        (0.0, 100.0),
        runtime=True,
    )
    num_hypotheses: int = parameter(
        3, "hypotheses sampled and published per fused set", (1, MAX_NUM_HYPOTHESES), runtime=True
    )
    temperature: float = parameter(
        MODEL_TEMPERATURE,
        "sampling temperature (scale of the prior's standard deviation, 0 = its mode); -1 = the model's recommended "
        "one from its metadata (a shipped model's validation-best)",
        (MODEL_TEMPERATURE, 3.0),
        runtime=True,
    )
    compositing: bool | None = parameter(
        None,
        "keep what the cameras see: where the model's per-view visibility says a view shows the scene, publish the "
        "view's pixels (at camera resolution with output_size camera), the hypotheses elsewhere; the uncertainty is "
        "~0 where a view shows the scene. Unset = the model's validation decision (its metadata); needs a model with "
        "a visibility head",
        runtime=True,
        unset_type=bool,
    )
    backend: str = parameter("onnxruntime", "inference backend", choices=BACKENDS)
    model_path: str = parameter(
        "",
        "model file: ONNX for onnxruntime/tensorrt, training checkpoint (.pt) for torch; "
        "empty = models/fusion_mnist/model.onnx of this package",
    )
    device: str = parameter("cpu", "inference device, e.g. cpu or cuda:0 (backends that support it)")
    output_frame_id: str = parameter(
        "",
        "frame_id of the outputs; empty = the reference camera_info's frame_id once received, else the frame_id "
        "of the newest view of each set",
    )
    output_size: str = parameter(
        "model",
        "model: outputs at the model's square size; camera: at the reference camera's resolution (its width x "
        "height, or the centre square with center_crop)",
        choices=OUTPUT_SIZES,
    )
    camera_info_topic: str = parameter(
        "",
        "sensor_msgs/CameraInfo of the reference camera (camera 0), republished matching the outputs on "
        "fused/camera_info; empty = the camera_info topic next to the first camera topic",
    )
    resize_mode: str = parameter(
        "resize", "fit views to the model: squeeze whole view or crop centre square first", choices=FIXED_MODES
    )
    input_reliability: str = parameter(
        "best_effort",
        "QoS reliability of the camera subscriptions (qos_overrides.<topic>.subscription.* parameters override it)",
        choices=RELIABILITIES,
    )
    input_queue_size: int = parameter(5, "history depth of each camera subscription", (1, 100))
    sync_queue_size: int = parameter(10, "views buffered per camera while waiting for their partners", (1, 100))
    inference_queue_size: int = parameter(
        1, "fused sets waiting for inference; the oldest is dropped when full", (1, 10)
    )
    output_queue_size: int = parameter(5, "history depth of the output topics, in fused sets", (1, 100))
    seed: int = parameter(
        -1,
        "noise seed: -1 = fresh noise every set; else each set's noise follows from seed and its stamp "
        "(the same set gives the same hypotheses live and in offline bag processing)",
        (-1, 2**31 - 1),
    )
    diagnostics_period: float = parameter(1.0, "seconds between /diagnostics reports", (0.05, 60.0))
    diagnostics_silent_timeout: float = parameter(
        2.0, "/diagnostics: a camera without messages for this long (s) is a WARN, all cameras an ERROR", (0.1, 3600.0)
    )
    diagnostics_max_drop_fraction: float = parameter(
        0.1,
        "/diagnostics: WARN when drops exceed this share of drops plus fused sets within a report period",
        (0.0, 1.0),
    )
    max_image_pixels: int = parameter(
        3840 * 2160, "larger images (width*height) are dropped as bad input", (1, 2**31 - 1)
    )
    future_tolerance: float = parameter(0.5, "views stamped more than this (s) after now are dropped", (0.0, 60.0))
    max_age: float = parameter(5.0, "views stamped more than this (s) before now are dropped", (0.001, 86400.0))
    reset_jump: float = parameter(
        1.0,
        "a stamp this much (s) older than the newest seen resets the view source (synchroniser or temporal buffer)",
        (0.0, 3600.0),
    )

    def compositing_for(self, model_has_visibility: bool, model_compositing: bool) -> bool:
        """Whether to composite with a model that has (or lacks) a visibility head and recommends (or not)
        compositing: the parameter where set, else the model's recommendation; never without the head."""
        wanted = model_compositing if self.compositing is None else self.compositing
        return model_has_visibility and wanted

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> NodeSettings:
        """Settings from parameter values (absent ones keep their defaults), checked beyond what descriptors enforce
        (choices, topic list, finite run-time values, usable homographies); SettingsError names the problem."""
        for name, value in values.items():
            spec = SPECS.get(name)
            if spec is None:
                raise SettingsError(f"unknown node parameter {name}")
            problem = check_runtime_value(name, value)
            if problem:
                raise SettingsError(problem)
            if spec.choices and value not in spec.choices:
                raise SettingsError(f"parameter {name}={value!r}: expected one of {', '.join(spec.choices)}")
            if spec.limits and not spec.limits[0] <= value <= spec.limits[1]:
                raise SettingsError(
                    f"parameter {name}={value}: expected a value in [{spec.limits[0]}, {spec.limits[1]}]"
                )
        lists = {name: list(value) for name, value in values.items() if isinstance(SPECS[name].default, list)}
        settings = cls(**{**values, **lists})
        topics = settings.camera_topics
        if not 1 <= len(topics) <= MAX_CAMERAS or not all(topic.strip() for topic in topics):
            raise SettingsError(f"parameter camera_topics={topics}: expected 1 to {MAX_CAMERAS} non-empty topic names")
        if len(set(topics)) != len(topics):
            raise SettingsError(f"parameter camera_topics={topics}: topics must be distinct")
        if settings.view_source == "temporal" and len(topics) != 1:
            raise SettingsError(
                f"parameter camera_topics={topics}: view_source temporal fuses the frames of one camera; "
                "name exactly one topic"
            )
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


PARAMETERS: tuple[ParamSpec, ...] = tuple(
    ParamSpec(name=entry.name, **entry.metadata) for entry in dataclasses.fields(NodeSettings)
)
SPECS = {spec.name: spec for spec in PARAMETERS}
RUNTIME_PARAMETERS = tuple(spec.name for spec in PARAMETERS if spec.runtime)


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
