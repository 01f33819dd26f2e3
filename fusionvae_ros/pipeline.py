"""The fusion pipeline without ROS: camera messages in, fused sets out. The live node (rclpy callbacks and publishers)
and ``bag process`` (a bag reader and writer) are thin adapters over one FusionPipeline, so live and offline fuse
the same views the same way by construction, set records included.

Each camera message is checked and brought to the model once, as it arrives (``add_view``): stamp checks against the
adapter's clock, decode (JPEG at libjpeg's reduced scale), registration warp into camera 0, the model's colour channels,
framing to the model's square (the training datasets' framing, evaluation mode). A view source groups the prepared views
into sets (``ViewSource``: the cameras' ViewSynchroniser, or with ``view_source: temporal`` one camera's
TemporalSource); a set whose views differ in size is dropped. ``fuse`` runs the backend on a set, with noise from the
seed parameter and the set's stamp, and returns a FusedSet, which outputs.output_messages turns into the output messages
of both adapters. Messages are duck-typed (rclpy's and rosbags' alike); nothing here imports ROS, and torch only loads
with a torch model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from fusionvae_core.data.framing import frame_image
from fusionvae_core.image_codec import RejectedInputError, to_model_channels
from fusionvae_ros.camera_input import colour_mismatch, decode_view
from fusionvae_ros.noise_seed import set_noise_seed
from fusionvae_ros.output_geometry import OutputGeometry, output_geometry
from fusionvae_ros.package_files import resolve_model_path
from fusionvae_ros.params import MODEL_TEMPERATURE, NodeSettings
from fusionvae_ros.set_compositing import SetOutputs, composite_set
from fusionvae_ros.sync import View, ViewSet, ViewSynchroniser
from fusionvae_ros.temporal import TemporalSource

if TYPE_CHECKING:  # the core's backends (and with them torch) load only with a model
    from fusionvae_core.inference import InferenceBackend

NANOSECONDS_PER_SECOND = 1_000_000_000
STAMP_INVALID = "stamp_invalid"

#: How the pipeline reports a dropped view or set: (reason counted in /diagnostics, one-line detail).
DropReport = Callable[[str, str], None]


class StartupError(RuntimeError):
    """The pipeline cannot start (missing or corrupt model); the message is one line for the log."""


class Log(Protocol):
    """Where the pipeline logs: an rclpy logger live, a ``logging.Logger`` offline."""

    def info(self, message: str, /) -> object: ...

    def warning(self, message: str, /) -> object: ...

    def debug(self, message: str, /) -> object: ...


class StampLike(Protocol):
    """builtin_interfaces/Time, or anything with its two fields."""

    sec: int
    nanosec: int


class ViewSource(Protocol):
    """Where view sets come from: prepared views in (``payload``), sets to fuse out.

    The cameras' ViewSynchroniser (1-3 synchronised cameras) or the TemporalSource (one camera whose newest frame
    is fused with earlier frames of a ring buffer), chosen in FusionPipeline.__init__ by ``view_source``.
    """

    resets: int
    poll_period_s: float  # how often the live node polls while views are buffered

    def add(self, camera: int, stamp_ns: int, payload: Any, now_ns: int) -> list[ViewSet]:
        """Take one view received at ``now_ns``; the sets that became ready."""
        ...

    def poll(self, now_ns: int) -> list[ViewSet]:
        """The sets that fell due by ``now_ns`` without new input."""
        ...

    def flush(self) -> list[ViewSet]:
        """At the end of the input: the sets still buffered, as they would fall due."""
        ...

    def buffered(self) -> int:
        """Views waiting in the source."""
        ...

    def reset(self) -> None:
        """Forget every buffered view."""
        ...

    def apply_settings(self, settings: NodeSettings) -> None:
        """Follow run-time parameter changes."""
        ...


@dataclass(frozen=True)
class PreparedView:
    """One accepted camera message, brought to the model once: where and when it was taken, the registered image at
    its decoded resolution (compositing blends these with upsampled hypotheses) and the model's input."""

    camera: int
    stamp_ns: int
    frame_id: str
    received_s: float  # time.monotonic() on arrival: the latency reference
    camera_size: tuple[int, int]  # (width, height) of the image the camera sent
    registered: np.ndarray  # uint8 [h, w, C]: decoded, warped into camera 0, in the model's channels
    model_input: np.ndarray  # uint8 [size, size, C]: `registered` framed to the model


@dataclass(frozen=True)
class FusedSet:
    """One fused set: the model's outputs at its resolution, their geometry and frame, and the set's views."""

    views: tuple[PreparedView, ...]  # camera order
    stamp_ns: int  # the newest view's stamp: every output carries it
    frame_id: str
    hypotheses: np.ndarray  # uint8 [S, size, size, C]
    mean: np.ndarray  # uint8 [size, size, C]
    uncertainty: np.ndarray  # float32 [size, size]: per-pixel std over the hypotheses
    geometry: OutputGeometry  # the model's field of view in the camera image and the published size
    reference_info: Any | None  # the reference camera's CameraInfo once known (for fused/camera_info)
    backend_s: float
    composited: bool = False  # the images keep the views' pixels where they show the scene (then at geometry.size)
    compositing_s: float = 0.0  # time spent compositing

    @property
    def cameras(self) -> tuple[int, ...]:
        """The cameras that contributed a view."""
        return tuple(view.camera for view in self.views)

    @property
    def camera_size(self) -> tuple[int, int]:
        """(width, height) of the set's camera images (one size per set)."""
        return self.views[0].camera_size

    def record(self) -> dict[str, str]:
        """The set's record for fused/set_info: how many hypotheses, K, the cameras, the stamps of the views
        (nanoseconds, in view order: with view_source temporal, which frames were fused), whether it is composited."""
        cameras = ",".join(map(str, self.cameras))
        stamps = ",".join(str(view.stamp_ns) for view in self.views)
        return {
            "num_hypotheses": str(len(self.hypotheses)),
            "k": str(len(self.views)),
            "cameras": cameras,
            "stamps": stamps,
            "compositing": str(self.composited).lower(),
        }


def load_model(settings: NodeSettings) -> tuple[InferenceBackend, Path]:
    """The configured backend and the model file it loaded; every failure is a one-line StartupError."""
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


def one_line(error: BaseException) -> str:
    """An exception's message collapsed onto one line (its type name when the message is empty)."""
    return " ".join(str(error).split()) or type(error).__name__


def stamp_nanoseconds(stamp: StampLike) -> int:
    """A header stamp in nanoseconds; RejectedInputError('stamp_invalid') for negative or out-of-range fields.

    rclpy's Time.from_msg raises ValueError for a negative ``sec`` and accepts a ``nanosec`` of a second or more,
    which builtin_interfaces/Time forbids; both are a camera driver bug and get a drop reason of their own.
    """
    if stamp.sec < 0:
        raise RejectedInputError(STAMP_INVALID, f"negative stamp sec={stamp.sec} (nanosec={stamp.nanosec})")
    if not 0 <= stamp.nanosec < NANOSECONDS_PER_SECOND:
        raise RejectedInputError(STAMP_INVALID, f"stamp nanosec={stamp.nanosec} outside [0, 1e9) (sec={stamp.sec})")
    return stamp.sec * NANOSECONDS_PER_SECOND + stamp.nanosec


class FusionPipeline:
    """Camera messages -> prepared views -> view sets -> fused sets, with every drop reported through ``drop``.

    Thread use (the node): ``add_view``, ``poll`` and ``update`` on the executor thread, ``fuse`` on the inference
    worker; ``reference_info`` may be replaced at any time.
    """

    def __init__(self, settings: NodeSettings, backend: InferenceBackend, drop: DropReport, log: Log) -> None:
        self.settings = settings
        self.backend = backend
        self.log = log
        self._drop = drop
        self._registration = settings.view_registration()
        self.source: ViewSource
        if settings.view_source == "temporal":
            self.source = TemporalSource(
                settings.temporal_window,
                settings.temporal_max_frames,
                settings.fusion_rate,
                settings.reset_jump,
                image=attrgetter("model_input"),
                on_drop=self._on_source_drop,
            )
        else:
            self.source = ViewSynchroniser(
                len(settings.camera_topics),
                slop=settings.slop,
                max_wait=settings.max_wait,
                queue_size=settings.sync_queue_size,
                reset_jump=settings.reset_jump,
                on_drop=self._on_source_drop,
            )
        self.reference_info: Any | None = None  # the reference camera's latest CameraInfo
        self.colour_mismatch: dict[int, str] = {}  # camera -> what the model does with its colours ("none")

    @property
    def compositing(self) -> bool:
        """Whether sets are composited now: the `compositing` parameter, else the model's recommendation (needs the
        model's visibility head)."""
        return self.settings.compositing_for(self.backend.has_visibility, self.backend.compositing)

    def where(self, camera: int) -> str:
        """How log lines name a camera: its index and topic."""
        return f"camera {camera} ({self.settings.camera_topics[camera]})"

    def add_view(self, camera: int, msg: Any, now_ns: int) -> list[ViewSet]:
        """Prepare one camera message and hand it to the view source; the sets that became ready.

        ``now_ns`` is the adapter's clock (ROS time live, the bag's log time offline; 0 before sim time starts: no
        stamp check). An unusable message is dropped with its reason.
        """
        received_s = time.monotonic()
        try:
            view = self.prepare(camera, msg, now_ns, received_s)
        except RejectedInputError as rejected:
            self._drop(rejected.reason, f"{self.where(camera)}: {rejected}")
            return []
        resets = self.source.resets
        ready = self.source.add(camera, view.stamp_ns, view, now_ns)
        if self.source.resets != resets:
            self.log.info(f"{self.where(camera)}: stamp jumped backwards (bag loop?); view source reset")
        return self._usable(ready)

    def poll(self, now_ns: int) -> list[ViewSet]:
        """The sets that fell due by ``now_ns`` (partial sets after max_wait; the temporal source only ages out)."""
        return self._usable(self.source.poll(now_ns))

    def flush(self) -> list[ViewSet]:
        """At the end of the input: every set still buffered."""
        return self._usable(self.source.flush())

    def update(self, changed: dict[str, Any]) -> None:
        """Apply run-time parameter changes (already validated) to the settings and the view source."""
        for name, value in changed.items():
            setattr(self.settings, name, value)
        self.source.apply_settings(self.settings)

    def prepare(self, camera: int, msg: Any, now_ns: int, received_s: float) -> PreparedView:
        """Stamp checks, decode, warp, colour and framing of one camera message; RejectedInputError if unusable."""
        settings, size, channels = self.settings, self.backend.image_size, self.backend.channels
        stamp_ns = stamp_nanoseconds(msg.header.stamp)
        self._check_stamp(stamp_ns, now_ns)
        # compositing at camera resolution keeps the camera's own pixels: no reduced-scale JPEG decode then
        full_resolution = self.compositing and settings.output_size == "camera"
        decoded = decode_view(
            msg, settings.input_transport, settings.max_image_pixels, None if full_resolution else size
        )
        if camera not in self.colour_mismatch:
            self._check_colours(camera, decoded.encoding)
        warped = self._registration.warp(camera, decoded.pixels, decoded.camera_size)
        registered = to_model_channels(warped, decoded.encoding, channels)
        return PreparedView(
            camera=camera,
            stamp_ns=stamp_ns,
            frame_id=msg.header.frame_id,
            received_s=received_s,
            camera_size=decoded.camera_size,
            registered=registered,
            model_input=frame_image(registered, size, settings.resize_mode),
        )

    def fuse(self, view_set: ViewSet) -> FusedSet:
        """Run the backend on a set (noise from the seed parameter and the set's stamp) and place its outputs.

        With compositing (and the model's per-view visibility, ``result.visibility``) the views' pixels replace the
        hypotheses where a view shows the scene, at camera resolution with output_size camera (set_compositing.py).
        """
        settings = self.settings
        views: tuple[PreparedView, ...] = tuple(view.payload for view in view_set.views)
        newest: PreparedView = view_set.newest.payload
        temperature = None if settings.temperature == MODEL_TEMPERATURE else settings.temperature
        batch = np.stack([view.model_input for view in views])[np.newaxis]
        start = time.perf_counter()
        result = self.backend.infer(
            batch,
            num_samples=settings.num_hypotheses,
            seed=set_noise_seed(settings.seed, newest.stamp_ns),
            temperature=temperature,
        )
        backend_s = time.perf_counter() - start
        geometry = output_geometry(
            views[0].camera_size, self.backend.image_size, settings.resize_mode, settings.output_size
        )
        outputs = SetOutputs(result.hypotheses[0], result.mean[0], np.asarray(result.std[0], dtype=np.float32))
        composited = self.compositing and result.visibility is not None
        start = time.perf_counter()
        if composited and result.visibility is not None:
            outputs = composite_set(views, result.visibility[0], outputs, geometry)
        info = self.reference_info
        return FusedSet(
            views=views,
            stamp_ns=newest.stamp_ns,
            frame_id=settings.output_frame_id or (info.header.frame_id if info else "") or newest.frame_id,
            hypotheses=outputs.hypotheses,
            mean=outputs.mean,
            uncertainty=outputs.std,
            geometry=geometry,
            reference_info=info,
            backend_s=backend_s,
            composited=composited,
            compositing_s=time.perf_counter() - start if composited else 0.0,
        )

    def _check_stamp(self, stamp_ns: int, now_ns: int) -> None:
        """RejectedInputError if the stamp is too far in the future or past; no check before the clock runs."""
        if now_ns == 0:  # use_sim_time before the first /clock message
            return
        offset_s = (stamp_ns - now_ns) / 1e9
        if offset_s > self.settings.future_tolerance:
            raise RejectedInputError(
                "stamp_future",
                f"stamp {offset_s:.3f} s ahead of now (future_tolerance {self.settings.future_tolerance} s)",
            )
        if -offset_s > self.settings.max_age:
            raise RejectedInputError(
                "stamp_old", f"stamp {-offset_s:.3f} s before now (max_age {self.settings.max_age} s)"
            )

    def _check_colours(self, camera: int, encoding: str) -> None:
        """Warn once per camera when its colours do not match the model's (colour dropped or grey replicated)."""
        mismatch = colour_mismatch(encoding, self.backend.channels)
        self.colour_mismatch[camera] = mismatch or "none"
        if mismatch:
            self.log.warning(f"{self.where(camera)}: {mismatch}")

    def _usable(self, view_sets: list[ViewSet]) -> list[ViewSet]:
        """The sets whose views share one size; the others are dropped (mismatched_sizes)."""
        usable = []
        for view_set in view_sets:
            sizes = sorted({view.payload.camera_size for view in view_set.views})
            if len(sizes) > 1:
                self._drop("mismatched_sizes", f"set from cameras {view_set.cameras} has views of sizes {sizes}")
                continue
            self.log.debug(
                f"set K={len(view_set.views)} cameras={list(view_set.cameras)} spread={view_set.spread_ns / 1e6:.2f} ms"
            )
            usable.append(view_set)
        return usable

    def _on_source_drop(self, reason: str, view: View) -> None:
        """The view source discarded a view (overflow, late, superseded, reset)."""
        self._drop(reason, f"camera {view.camera} view stamped {view.stamp_ns / 1e9:.3f} s")
