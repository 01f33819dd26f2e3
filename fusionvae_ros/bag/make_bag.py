"""make-bag: a rosbag2 (MCAP) of 1-3 occluded camera streams made from a dataset split, with ground truth.

Each view set is one dataset item: camera c publishes its masked view on /camera_c/image_raw, the clean target
goes to /ground_truth/image and a JSON record to /fusionvae/set_info (format in set_info.py: it says which
cameras published, so K of every set is known). Timing is camera-like: sets at ``rate`` Hz, a fixed offset
per camera, Gaussian stamp jitter, a transport delay between stamp and log time, and randomly dropped frames
(at least one camera publishes each set). Header stamps start at a fixed time so a given seed gives the same bag.
With ``--compress jpeg|png`` the cameras publish sensor_msgs/CompressedImage on /camera_c/image_raw/compressed
instead, as image_transport's compressed plugin does (the ground truth stays a raw Image).

``make_sequence_bag`` writes what one fixed camera sees instead (the temporal view source's input): sequences of
frames (e.g. fusion_tabletop_arm's arm moving over the table) one after another on /camera_0/image_raw, each frame
a set of its own whose ground truth is its sequence's target, with a pause between sequences.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from fusionvae_ros.bag.bag_files import (
    CAMERA_TOPICS,
    COMPRESSED_IMAGE_TYPE,
    GROUND_TRUTH_TOPIC,
    IMAGE_TYPE,
    SET_INFO_TOPIC,
    STRING_TYPE,
    BagError,
    OutputBag,
    ns_to_stamp,
    serialize_compressed,
    serialize_message,
    serialize_text,
)
from fusionvae_ros.bag.set_info import SetInfo

if TYPE_CHECKING:
    from fusionvae_core.data import FusionDataset, FusionItem

DEFAULT_START_NS = 1_700_000_000 * 1_000_000_000
JITTER_CLIP = 2.0  # stamp jitter is clipped to +-JITTER_CLIP standard deviations
CUSTOM_DATA_KEY = "fusionvae.make_bag"


class ViewSets(Protocol):
    """Indexable items with a clean target and 3 views (a FusionDataset or camera-size rendered scenes)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> FusionItem: ...


@dataclass(frozen=True)
class CameraTiming:
    """When views are taken and logged: set rate, per-camera offsets, jitter, transport delay, drop chance."""

    rate_hz: float = 10.0
    offsets_ms: tuple[float, ...] = (0.0, 2.0, 4.0)
    jitter_ms: float = 1.0
    latency_ms: float = 2.0
    drop_prob: float = 0.15
    start_ns: int = DEFAULT_START_NS

    def check(self, num_cameras: int) -> None:
        """Raise BagError if the timing is impossible or lets one camera's frames overtake each other."""
        if not self.rate_hz > 0:
            raise BagError(f"--rate must be > 0 Hz, got {self.rate_hz}")
        if len(self.offsets_ms) < num_cameras:
            raise BagError(f"--offsets-ms needs one value per camera ({num_cameras}), got {list(self.offsets_ms)}")
        if min(self.jitter_ms, self.latency_ms, *self.offsets_ms) < 0:
            raise BagError("--offsets-ms, --jitter-ms and --latency-ms must be >= 0")
        if not 0 <= self.drop_prob < 1:
            raise BagError(f"--drop-prob must be in [0, 1), got {self.drop_prob}")
        spread_ms = max(self.offsets_ms[:num_cameras]) + 2 * JITTER_CLIP * self.jitter_ms + 1.5 * self.latency_ms
        if spread_ms >= 500 / self.rate_hz:
            raise BagError(
                f"offsets, jitter and latency span {spread_ms:.1f} ms, more than half the set period at "
                f"{self.rate_hz} Hz: lower them or the rate"
            )


@dataclass(frozen=True)
class PlannedView:
    """One camera message of a set: camera index, header stamp and log (receive) time, in ns."""

    camera: int
    stamp_ns: int
    log_time_ns: int


@dataclass(frozen=True)
class PlannedSet:
    """One view set: its ground-truth stamp and the views of the cameras that did not drop their frame."""

    set_id: int
    stamp_ns: int
    views: tuple[PlannedView, ...]


def plan_sets(num_sets: int, num_cameras: int, timing: CameraTiming, rng: np.random.Generator) -> list[PlannedSet]:
    """Stamps and log times of every view of ``num_sets`` sets (see the module docstring for the model)."""
    timing.check(num_cameras)
    period_ns = 1e9 / timing.rate_hz
    plans = []
    for set_id in range(num_sets):
        stamp_ns = timing.start_ns + round(set_id * period_ns)
        published = rng.random(num_cameras) >= timing.drop_prob
        if not published.any():
            published[rng.integers(num_cameras)] = True
        views = []
        for camera in np.flatnonzero(published):
            jitter_ms = float(np.clip(rng.normal(), -JITTER_CLIP, JITTER_CLIP)) * timing.jitter_ms
            view_stamp = stamp_ns + round((timing.offsets_ms[camera] + jitter_ms) * 1e6)
            delay_ns = round(timing.latency_ms * (0.5 + rng.random()) * 1e6)
            views.append(PlannedView(int(camera), view_stamp, view_stamp + delay_ns))
        plans.append(PlannedSet(set_id, stamp_ns, tuple(views)))
    return plans


@dataclass(frozen=True)
class MakeBagOptions:
    """Everything that defines a generated bag (stored as JSON in the bag's metadata custom_data)."""

    dataset: str = "fusion_mnist"
    split: str = "test"
    data_root: str | None = None
    num_sets: int = 50
    num_cameras: int = 3
    seed: int = 0
    width: int | None = None
    height: int | None = None
    timing: CameraTiming = field(default_factory=CameraTiming)
    compress: str | None = None  # None: raw Image cameras; "jpeg" / "png": CompressedImage cameras


@dataclass(frozen=True)
class BagSummary:
    """What make-bag wrote: the path, the K of every set and the message count per topic."""

    path: Path
    set_ks: list[int]
    counts: dict[str, int]

    def describe(self) -> str:
        """A two-line human summary."""
        histogram = ", ".join(f"K={k}: {self.set_ks.count(k)}" for k in sorted(set(self.set_ks)))
        topics = ", ".join(f"{topic} x{count}" for topic, count in self.counts.items())
        return f"wrote {self.path}: {len(self.set_ks)} view sets ({histogram})\n  {topics}"


def make_bag(
    path: str | Path, options: MakeBagOptions, overwrite: bool = False, items: ViewSets | None = None
) -> BagSummary:
    """Generate the bag described by ``options`` at ``path`` (atomically; refuses to overwrite by default).

    ``items`` replaces the dataset split that ``options`` names (e.g. tabletop scenes rendered at camera size).
    """
    if not 1 <= options.num_cameras <= len(CAMERA_TOPICS):
        raise BagError(f"--num-cameras must be 1..{len(CAMERA_TOPICS)}, got {options.num_cameras}")
    if options.num_sets < 1:
        raise BagError(f"--num-sets must be >= 1, got {options.num_sets}")
    if (options.width is None) != (options.height is None) or min(options.width or 1, options.height or 1) < 1:
        raise BagError("--width and --height go together and must be >= 1")
    rng = np.random.default_rng(options.seed)
    plans = plan_sets(options.num_sets, options.num_cameras, options.timing, rng)
    if options.compress not in (None, "jpeg", "png"):
        raise BagError(f"--compress must be jpeg or png, got {options.compress}")
    topics = tuple(
        f"{topic}/compressed" if options.compress else topic for topic in CAMERA_TOPICS[: options.num_cameras]
    )
    with OutputBag(path, overwrite) as bag:
        dataset = items if items is not None else _load_dataset(options)
        indices = rng.choice(len(dataset), size=options.num_sets, replace=options.num_sets > len(dataset))
        for topic in topics:
            bag.add_topic(topic, COMPRESSED_IMAGE_TYPE if options.compress else IMAGE_TYPE)
        bag.add_topic(GROUND_TRUTH_TOPIC, IMAGE_TYPE)
        bag.add_topic(SET_INFO_TOPIC, STRING_TYPE)
        bag.set_custom_data(CUSTOM_DATA_KEY, json.dumps(asdict(options), sort_keys=True))
        for plan, index in zip(plans, indices):
            item = dataset[int(index)]
            target = _to_pixels(item.target.numpy(), options.width, options.height)
            views = [_to_pixels(view, options.width, options.height) for view in item.views.numpy()]
            _write_set(bag, plan, int(index), target, views, topics, options.compress)
        counts = dict(bag.counts)
    return BagSummary(Path(path), [len(plan.views) for plan in plans], counts)


@dataclass(frozen=True)
class SequenceBagOptions:
    """A bag of one fixed camera streaming sequences (stored as JSON in the bag's metadata custom_data): frame timing
    (rate, jitter, transport delay; nothing is dropped), the pause between sequences, noise seed and compression."""

    timing: CameraTiming = field(default_factory=lambda: CameraTiming(drop_prob=0.0))
    pause_s: float = 1.5  # longer than the node's temporal_window: no fused set mixes two sequences' scenes
    seed: int = 0
    compress: str | None = None


def make_sequence_bag(
    path: str | Path, sequences: ViewSets, options: SequenceBagOptions, overwrite: bool = False
) -> BagSummary:
    """Write every item of ``sequences`` (its views: the frames, oldest first) as camera 0's frames, one set per
    frame with the item's target as ground truth; ``options.pause_s`` of silence separates the sequences."""
    if options.pause_s <= 0 or len(sequences) < 1:
        raise BagError(f"sequence bags need at least one sequence and a pause > 0 s, got {options.pause_s} s")
    if options.compress not in (None, "jpeg", "png"):
        raise BagError(f"--compress must be jpeg or png, got {options.compress}")
    rng = np.random.default_rng(options.seed)
    topic = f"{CAMERA_TOPICS[0]}/compressed" if options.compress else CAMERA_TOPICS[0]
    start_ns, set_id = options.timing.start_ns, 0
    with OutputBag(path, overwrite) as bag:
        bag.add_topic(topic, COMPRESSED_IMAGE_TYPE if options.compress else IMAGE_TYPE)
        bag.add_topic(GROUND_TRUTH_TOPIC, IMAGE_TYPE)
        bag.add_topic(SET_INFO_TOPIC, STRING_TYPE)
        bag.set_custom_data(CUSTOM_DATA_KEY, json.dumps({"sequences": len(sequences), **asdict(options)}))
        for index in range(len(sequences)):
            item = sequences[index]
            target = _to_pixels(item.target.numpy())
            frames = item.views.numpy()
            for plan, pixels in zip(plan_sets(len(frames), 1, replace(options.timing, start_ns=start_ns), rng), frames):
                _write_set(
                    bag, replace(plan, set_id=set_id), index, target, [_to_pixels(pixels)], (topic,), options.compress
                )
                set_id += 1
            start_ns = plan.stamp_ns + round(options.pause_s * 1e9)
        counts = dict(bag.counts)
    return BagSummary(Path(path), [1] * set_id, counts)


def _load_dataset(options: MakeBagOptions) -> FusionDataset:
    """The dataset split the views and targets come from (imported lazily: it pulls in torch); errors -> BagError."""
    from fusionvae_core.data import DatasetError, build_dataset

    try:
        return build_dataset(options.dataset, options.split, options.data_root, seed=options.seed)
    except DatasetError as error:
        raise BagError(f"dataset {options.dataset}/{options.split}: {error}") from None


def _to_pixels(image: np.ndarray, width: int | None = None, height: int | None = None) -> np.ndarray:
    """A float [C, H, W] image in [0, 1] as uint8 [H, W, C], stretched to ``width`` x ``height`` if given."""
    import cv2

    pixels = np.ascontiguousarray(np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0))
    if width is None or height is None:
        return pixels
    resized = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_LINEAR)
    return resized.reshape(height, width, pixels.shape[2])


def _write_set(
    bag: OutputBag,
    plan: PlannedSet,
    dataset_index: int,
    target: np.ndarray,
    views: list[np.ndarray],
    topics: tuple[str, ...],
    compress: str | None,
) -> None:
    """Write one set's ground truth, set info and camera views (raw or ``compress``-ed) in log-time order."""
    from std_msgs.msg import Header

    from fusionvae_ros.image_codec import encode_compressed, encode_image

    info = SetInfo(
        plan.set_id, plan.stamp_ns, dataset_index, {topics[view.camera]: view.stamp_ns for view in plan.views}
    )
    truth_header = Header(stamp=ns_to_stamp(plan.stamp_ns), frame_id="ground_truth")
    messages = [
        (plan.stamp_ns, GROUND_TRUTH_TOPIC, serialize_message(encode_image(target, truth_header))),
        (plan.stamp_ns, SET_INFO_TOPIC, serialize_text(info.to_json())),
    ]
    for view in plan.views:
        frame_id, pixels = f"camera_{view.camera}", views[view.camera]
        if compress:
            encoding = "mono8" if pixels.shape[2] == 1 else "rgb8"
            data = serialize_compressed(view.stamp_ns, frame_id, *encode_compressed(pixels, encoding, compress))
        else:
            data = serialize_message(encode_image(pixels, Header(stamp=ns_to_stamp(view.stamp_ns), frame_id=frame_id)))
        messages.append((view.log_time_ns, topics[view.camera], data))
    for log_time_ns, topic, data in sorted(messages, key=lambda message: message[0]):
        bag.write(topic, log_time_ns, data)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of make-bag."""
    defaults, timing = MakeBagOptions(), CameraTiming()
    parser.add_argument("output", help="bag folder to create (refused if it exists, unless --overwrite)")
    parser.add_argument(
        "--dataset",
        default=defaults.dataset,
        help="where targets and views come from: fusion_mnist (embedded MNIST digits), fusion_fashion "
        "(Fashion-MNIST), fusion_celeba or fusion_tless (these two need --data-root)",
    )
    parser.add_argument(
        "--split",
        default=defaults.split,
        choices=("train", "val", "test"),
        help="split of the dataset to draw the items from",
    )
    parser.add_argument("--data-root", help="data folder of the dataset (default: its embedded or system copy)")
    parser.add_argument("--num-sets", type=int, default=defaults.num_sets, help="view sets (dataset items) to write")
    parser.add_argument("--num-cameras", type=int, default=defaults.num_cameras, help="camera streams, 1 to 3")
    parser.add_argument("--rate", type=float, default=timing.rate_hz, help="view sets per second (Hz)")
    parser.add_argument(
        "--offsets-ms",
        type=float,
        nargs="+",
        default=list(timing.offsets_ms),
        help="per camera, how long after the set's time its view is stamped (ms; one value per camera)",
    )
    parser.add_argument("--jitter-ms", type=float, default=timing.jitter_ms, help="std of the view stamp jitter (ms)")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=timing.latency_ms,
        help="mean delay from a view's stamp to its log time (ms)",
    )
    parser.add_argument(
        "--drop-prob", type=float, default=timing.drop_prob, help="chance that a camera drops a set's frame, in [0, 1)"
    )
    parser.add_argument("--width", type=int, help="stretch every image to this width, e.g. 640 (needs --height)")
    parser.add_argument("--height", type=int, help="stretch every image to this height, e.g. 480 (needs --width)")
    parser.add_argument(
        "--compress",
        choices=("jpeg", "png"),
        help="cameras publish sensor_msgs/CompressedImage on /camera_N/image_raw/compressed (default: raw Image)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="fixes items, views, timing and drops")
    parser.add_argument(
        "--start-time", type=float, default=timing.start_ns / 1e9, help="header stamp of the first set (s since epoch)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag at OUTPUT (once complete)")


def run(args: argparse.Namespace) -> int:
    """Run make-bag from parsed arguments."""
    timing = CameraTiming(
        args.rate, tuple(args.offsets_ms), args.jitter_ms, args.latency_ms, args.drop_prob, round(args.start_time * 1e9)
    )
    options = MakeBagOptions(
        args.dataset,
        args.split,
        args.data_root,
        args.num_sets,
        args.num_cameras,
        args.seed,
        args.width,
        args.height,
        timing,
        args.compress,
    )
    print(make_bag(args.output, options, args.overwrite).describe())
    return 0
