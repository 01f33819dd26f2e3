"""process: fuse a bag offline (no DDS) into a new bag of the node's /fused/* topics, exactly as the node would live.

process and the node are two adapters over one FusionPipeline (fusionvae_ros/pipeline.py): the node's parameters
and defaults, model loading, stamp checks, decoding, registration, framing and view source (the synchroniser, or
with ``--view-source temporal`` one camera's ring buffer of frames; the bag's log time is the clock, so max_wait,
the temporal window and the stamp checks count bag time), per-set noise seeds set_noise_seed(seed, newest
view stamp), and the node's output messages (outputs.output_messages): /fused/set_info, /fused/hypotheses,
/fused/mean, /fused/uncertainty, and /fused/camera_info when the bag holds the reference camera's camera_info. So
the same seed gives the same messages as a live node configured with it. Each set is logged at the bag time the
node would emit it (inference time not included). The output bag is written atomically: nothing appears at OUTPUT
unless it completed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from fusionvae_ros.bag.bag_files import (
    CAMERA_TOPICS,
    BagError,
    InputBag,
    OutputBag,
    bag_cameras,
    serialize_message,
    type_name,
)
from fusionvae_ros.output_geometry import sibling_camera_info_topic
from fusionvae_ros.outputs import CAMERA_INFO_TOPIC, OUTPUT_TYPES, output_messages
from fusionvae_ros.params import SPECS, NodeSettings, SettingsError
from fusionvae_ros.pipeline import FusionPipeline, StartupError, load_model
from fusionvae_ros.sync import ViewSet

DEFAULT_SEED = 0
CUSTOM_DATA_KEY = "fusionvae.process"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
LOG = logging.getLogger("fusionvae_bag.process")


@dataclass(frozen=True)
class ProcessSummary:
    """What process did: sets fused per K, views and sets dropped per reason, messages written."""

    sets_by_k: dict[int, int]
    drops: dict[str, int]
    messages: int

    def describe(self, path: str) -> str:
        """One human line."""
        histogram = ", ".join(f"K={k}: {n}" for k, n in sorted(self.sets_by_k.items())) or "none"
        drops = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.drops.items())) or "none"
        return (
            f"process: wrote {path}: {sum(self.sets_by_k.values())} fused sets ({histogram}), "
            f"{self.messages} messages; dropped (as the node counts them): {drops}. Its log times are offline "
            "timing (when the live node would emit each set, in bag time, without inference): not a live latency"
        )


def node_settings(**overrides: Any) -> NodeSettings:
    """The node's settings at its parameter defaults with ``overrides``, checked like the node's (BagError)."""
    try:
        return NodeSettings.from_values(overrides)
    except SettingsError as error:
        raise BagError(str(error)) from None


def process_bag(input_path: str, output_path: str, settings: NodeSettings, overwrite: bool = False) -> ProcessSummary:
    """Fuse every view set of ``input_path`` and write the node's output topics to ``output_path``."""
    with InputBag(input_path) as bag:
        topics = bag.require_cameras(settings.camera_topics, settings.input_transport)
        info_topic = settings.camera_info_topic or sibling_camera_info_topic(settings.camera_topics[0])
        info_topics = [info_topic] if bag.topics.get(info_topic) == CAMERA_INFO_TYPE else []
        with OutputBag(output_path, overwrite) as out:  # first: an existing output is refused before loading
            try:
                backend, _ = load_model(settings)
            except StartupError as error:
                raise BagError(str(error)) from None
            for topic, msg_type in OUTPUT_TYPES.items():
                if topic != CAMERA_INFO_TOPIC or info_topics:
                    out.add_topic("/" + topic, type_name(msg_type))
            out.set_custom_data(
                CUSTOM_DATA_KEY, json.dumps({"input": str(input_path), **dataclasses.asdict(settings)}, default=str)
            )
            drops: Counter[str] = Counter()
            pipeline = FusionPipeline(settings, backend, lambda reason, _: drops.update([reason]), LOG)
            sets_by_k: Counter[int] = Counter()

            def write(view_sets: list[ViewSet]) -> None:
                """Fuse sets and write their messages at the bag time the node emits them."""
                for view_set in view_sets:
                    for topic, msg in output_messages(pipeline.fuse(view_set)).by_topic():
                        out.write("/" + topic, view_set.due_ns, serialize_message(msg))
                    sets_by_k[len(view_set.views)] += 1

            for message in bag.messages([*topics, *info_topics]):
                if message.topic in info_topics:
                    pipeline.reference_info = bag.decode(message)
                else:
                    write(pipeline.add_view(topics.index(message.topic), bag.decode(message), message.log_time_ns))
            write(pipeline.flush())
            messages = sum(out.counts.values())
    return ProcessSummary(dict(sorted(sets_by_k.items())), dict(drops), messages)


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
    "view_source": "view_source",
    "temporal_window": "temporal_window",
    "temporal_max_frames": "temporal_max_frames",
    "fusion_rate": "fusion_rate",
    "resize_mode": "resize_mode",
    "output_frame_id": "output_frame_id",
    "output_size": "output_size",
    "compositing": "compositing",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of process: the node's parameters, with the node's defaults (except --seed)."""
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
    for option, name in NODE_OPTIONS.items():
        spec = SPECS[name]
        node_default = f"'{spec.default}'" if isinstance(spec.default, str) else spec.default
        node_default = "unset" if spec.default is None else node_default
        boolean = spec.value_type is bool
        parser.add_argument(
            "--" + option.replace("_", "-"),
            type=parse_boolean if boolean else spec.value_type,
            choices=(True, False) if boolean else spec.choices,
            metavar="{true,false}" if boolean else None,
            help=f"node parameter {name}: {spec.description} (default: {node_default})",
        )


def parse_boolean(text: str) -> bool:
    """argparse type of boolean node parameters: true / false, as in a params file."""
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return lowered == "true"


def run(args: argparse.Namespace) -> int:
    """Run process from parsed arguments (the pipeline's warnings, e.g. colour mismatches, go to stderr)."""
    logging.basicConfig(format="process: %(message)s")
    overrides = {name: getattr(args, option) for option, name in NODE_OPTIONS.items()}
    overrides = {name: value for name, value in overrides.items() if value is not None}
    with InputBag(args.input) as bag:
        overrides["input_transport"], found = bag_cameras(bag, overrides.get("input_transport"))
    default_topics = found or list(CAMERA_TOPICS)
    settings = node_settings(camera_topics=args.camera_topics or default_topics, seed=args.seed, **overrides)
    print(process_bag(args.input, args.output, settings, args.overwrite).describe(args.output))
    return 0
