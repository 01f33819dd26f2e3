"""process: fuse a bag offline (no DDS) into a new bag of /fused/* topics, exactly as the node would live.

It uses the node's pieces: its parameters and defaults, its model loading, the same ViewSynchroniser (with
the bag's log time as the clock, so max_wait counts bag time), the same fusion step and Image encoding, and
per-set noise seeds from set_noise_seed(seed, newest view stamp) - so the same seed gives the same hypotheses
as a live node configured with it. Each output is logged at the bag time the node would emit it (inference
time not included). The output bag is written atomically: nothing appears at OUTPUT unless it completed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from fusionvae_ros.bag.bag_files import (
    CAMERA_TOPICS,
    COMPRESSED_IMAGE_TYPE,
    FUSED_TOPICS,
    HYPOTHESES_TOPIC,
    IMAGE_TYPE,
    MEAN_TOPIC,
    UNCERTAINTY_TOPIC,
    BagError,
    InputBag,
    OutputBag,
    bag_cameras,
    ns_to_stamp,
    serialize_image,
    stamp_to_ns,
)
from fusionvae_ros.noise_seed import set_noise_seed

DEFAULT_SEED = 0
CUSTOM_DATA_KEY = "fusionvae.process"


@dataclass(frozen=True)
class ProcessSummary:
    """What process did: sets fused per K, views dropped as unusable, messages written."""

    sets_by_k: dict[int, int]
    bad_views: int
    messages: int

    def describe(self, path: str) -> str:
        """One human line."""
        histogram = ", ".join(f"K={k}: {n}" for k, n in sorted(self.sets_by_k.items())) or "none"
        return (
            f"process: wrote {path}: {sum(self.sets_by_k.values())} fused sets ({histogram}), "
            f"{self.messages} messages; {self.bad_views} unusable views dropped. Its log times are offline "
            "timing (when the live node would emit each set, in bag time, without inference): not a live latency"
        )


def node_settings(**overrides: Any) -> Any:
    """The node's settings (NodeSettings) at its parameter defaults with ``overrides``, checked like the node's."""
    from fusionvae_ros.params import PARAMETERS, NodeSettings

    specs = {spec.name: spec for spec in PARAMETERS}
    for name, value in overrides.items():
        spec = specs.get(name)
        if spec is None:
            raise BagError(f"unknown node parameter {name}")
        if spec.choices and value not in spec.choices:
            raise BagError(f"{name}={value!r}: expected one of {', '.join(spec.choices)}")
        if spec.limits and not spec.limits[0] <= value <= spec.limits[1]:
            raise BagError(f"{name}={value}: expected a value in [{spec.limits[0]}, {spec.limits[1]}]")
    return NodeSettings(**{name: spec.default for name, spec in specs.items()} | overrides)


def process_bag(input_path: str, output_path: str, settings: Any, overwrite: bool = False) -> ProcessSummary:
    """Fuse every view set of ``input_path`` and write the node's output topics to ``output_path``."""
    from fusionvae_ros.camera_input import transport_topic
    from fusionvae_ros.fusion_node import StartupError, load_model
    from fusionvae_ros.sync import ViewSynchroniser

    with InputBag(input_path) as bag:
        transport = settings.input_transport
        topics = [transport_topic(topic, transport) for topic in settings.camera_topics]
        msgtype = COMPRESSED_IMAGE_TYPE if transport == "compressed" else IMAGE_TYPE
        bag.require(topics, msgtype, "pass --camera-topics (base topics) and --input-transport matching the bag")
        sync = ViewSynchroniser(
            len(topics), settings.slop, settings.max_wait, settings.sync_queue_size, settings.reset_jump
        )
        with OutputBag(output_path, overwrite) as out:  # first: an existing output is refused before loading
            try:
                backend, _ = load_model(settings)
            except StartupError as error:
                raise BagError(str(error)) from None
            for topic in FUSED_TOPICS:
                out.add_topic(topic, IMAGE_TYPE)
            out.set_custom_data(
                CUSTOM_DATA_KEY, json.dumps({"input": str(input_path), **dataclasses.asdict(settings)}, default=str)
            )
            fuser = _SetWriter(backend, settings, out, sync.max_wait_ns)
            bad_views, now_ns = 0, 0
            for message in bag.messages(topics):
                now_ns = message.log_time_ns
                camera = topics.index(message.topic)
                view = _camera_view(bag.decode(message), camera, now_ns, settings, backend.image_size)
                if view is None:
                    bad_views += 1
                    continue
                stamp_ns = stamp_to_ns(view.stamp)
                for view_set in sync.add(camera, stamp_ns, view, now_ns):
                    fuser.write(view_set, now_ns)
            for view_set in sync.poll(now_ns + sync.max_wait_ns):
                fuser.write(view_set, now_ns + sync.max_wait_ns)
            messages = sum(out.counts.values())
    return ProcessSummary(dict(sorted(fuser.sets_by_k.items())), bad_views, messages)


def _camera_view(msg: Any, camera: int, log_time_ns: int, settings: Any, model_size: int) -> Any:
    """The node's CameraView of one camera message logged at ``log_time_ns``, or None if it is unusable.

    Decoded and registered as the node does it (compressed JPEG at the same reduced scale, the same homography),
    so results match a live run.
    """
    from fusionvae_ros.camera_input import decode_view
    from fusionvae_ros.fusion_node import CameraView
    from fusionvae_ros.image_codec import ImageFormatError

    try:
        decoded = decode_view(msg, settings.input_transport, settings.max_image_pixels, model_size)
    except ImageFormatError:
        return None
    return CameraView(
        pixels=settings.view_registration().warp(camera, decoded.pixels, decoded.camera_size),
        encoding=decoded.encoding,
        frame_id=msg.header.frame_id,
        stamp=msg.header.stamp,
        received_s=log_time_ns / 1e9,
        source_size=decoded.camera_size,
    )


class _SetWriter:
    """Fuses one synchronised set with the node's fusion step and writes its hypotheses, mean and std."""

    def __init__(self, backend: Any, settings: Any, out: OutputBag, max_wait_ns: int) -> None:
        self._backend = backend
        self._settings = settings
        self._out = out
        self._max_wait_ns = max_wait_ns
        self.sets_by_k: dict[int, int] = {}

    def write(self, view_set: Any, now_ns: int) -> None:
        """Fuse ``view_set`` (ready at bag time ``now_ns``) and write its outputs at its emission time."""
        from std_msgs.msg import Header

        from fusionvae_ros.fusion import fuse_views
        from fusionvae_ros.image_codec import encode_image
        from fusionvae_ros.output_geometry import output_geometry, resize_output

        settings = self._settings
        views = [view.payload for view in view_set.views]
        newest = view_set.newest
        seed = set_noise_seed(settings.seed, newest.stamp_ns)
        fused = fuse_views(
            self._backend,
            [(view.pixels, view.encoding) for view in views],
            settings.resize_mode,
            settings.num_hypotheses,
            settings.temperature,
            seed,
        )
        header = Header(
            stamp=ns_to_stamp(newest.stamp_ns), frame_id=settings.output_frame_id or newest.payload.frame_id
        )
        log_ns = self._emission_ns(view_set, now_ns)
        size = output_geometry(
            views[0].size, self._backend.image_size, settings.resize_mode, settings.output_size
        ).size  # output_size camera: the camera's geometry, as the node publishes it
        for hypothesis in fused.hypotheses:
            image = encode_image(resize_output(hypothesis, size), header)
            self._out.write(HYPOTHESES_TOPIC, log_ns, serialize_image(image))
        self._out.write(MEAN_TOPIC, log_ns, serialize_image(encode_image(resize_output(fused.mean, size), header)))
        self._out.write(
            UNCERTAINTY_TOPIC, log_ns, serialize_image(encode_image(resize_output(fused.std, size), header))
        )
        k = len(views)
        self.sets_by_k[k] = self.sets_by_k.get(k, 0) + 1

    def _emission_ns(self, view_set: Any, now_ns: int) -> int:
        """When the node emits the set: with its last view if complete, else once its first-received view has
        waited max_wait (the synchroniser's rule; ``now_ns`` may be later, when the next message came)."""
        received = [view.received_ns for view in view_set.views]
        return max(received) if view_set.complete else min(now_ns, min(received) + self._max_wait_ns)


#: process options that set the node parameter of the same meaning (option -> parameter).
NODE_OPTIONS = {
    "model": "model_path",
    "input_transport": "input_transport",
    "backend": "backend",
    "device": "device",
    "num_hypotheses": "num_hypotheses",
    "temperature": "temperature",
    "slop": "slop",
    "max_wait": "max_wait",
    "resize_mode": "resize_mode",
    "output_frame_id": "output_frame_id",
    "output_size": "output_size",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of process: the node's parameters, with the node's defaults (except --seed)."""
    from fusionvae_ros.params import PARAMETERS

    parser.add_argument("input", help="rosbag2 folder (or .mcap file) with the camera topics")
    parser.add_argument("-o", "--output", required=True, help="bag folder to create with the /fused/* topics")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag at OUTPUT (once complete)")
    parser.add_argument(
        "--camera-topics",
        nargs="+",
        help="camera (base) topics in camera order (default: the bag's /camera_N/image_raw); with "
        "--input-transport compressed the bag's <topic>/compressed topics are read",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="noise base seed: a set's noise follows from it and the set's stamp, as in a node run with this "
        "seed parameter (-1: fresh noise every set)",
    )
    specs = {spec.name: spec for spec in PARAMETERS}
    for option, name in NODE_OPTIONS.items():
        spec = specs[name]
        node_default = f"'{spec.default}'" if isinstance(spec.default, str) else spec.default
        parser.add_argument(
            "--" + option.replace("_", "-"),
            type=type(spec.default),
            choices=spec.choices,
            help=f"node parameter {name}: {spec.description} (default: {node_default})",
        )


def run(args: argparse.Namespace) -> int:
    """Run process from parsed arguments."""
    overrides = {name: getattr(args, option) for option, name in NODE_OPTIONS.items()}
    overrides = {name: value for name, value in overrides.items() if value is not None}
    with InputBag(args.input) as bag:
        overrides["input_transport"], found = bag_cameras(bag, overrides.get("input_transport"))
    default_topics = found or list(CAMERA_TOPICS)
    settings = node_settings(camera_topics=args.camera_topics or default_topics, seed=args.seed, **overrides)
    print(process_bag(args.input, args.output, settings, args.overwrite).describe(args.output))
    return 0
