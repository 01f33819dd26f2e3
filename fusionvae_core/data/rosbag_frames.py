"""`rosbag` dataset: the frames of sensor_msgs/Image and CompressedImage topics of rosbag2 bags as targets.

`data.data_root` is a bag (a rosbag2 folder with metadata.yaml, MCAP or sqlite3 storage, or a bare .mcap/.db3
file) or a folder holding several bags (searched recursively). `data.topics` names the camera topics (default:
every Image/CompressedImage topic); `data.frame_stride` keeps every N-th frame of each topic (a 30 Hz camera at
stride 10 gives 3 frames per second). Pixels are decoded by the package's one codec (fusionvae_core.image_codec),
JPEG at the smallest libjpeg reduction that still covers the model size.

Bags whose camera views are already occluded (a simulator, `fusionvae_bag make-bag`) name the clean image's topic
in `data.target_topic`: each of its frames is an item whose views are the frames of `data.topics` (1–3 view
topics; fewer than 3 repeat) logged within PAIR_SLOP_NS of it; items missing a view are dropped and counted. The
views are used as recorded (`data.occlusion` must be `none`) and framed like the target (resize or center_crop).

A bag is read once, sequentially, to index the log time of every frame (nothing is kept in memory but the
times); the index is cached in the cache folder and rebuilt when a storage file of the bag changes (size or
modification time). An item is read when the loader asks for it, by a time-window query on its log time (MCAP:
only the chunk holding it is decompressed). Split: own_data.py's hash on (bag, second of the log time), so the
near-identical neighbouring frames of a video land in the same split, and all cameras of one moment too.
"""

from __future__ import annotations

import bisect
import os
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from fusionvae_core.data.errors import DatasetError
from fusionvae_core.data.fusion_dataset import NUM_VIEWS
from fusionvae_core.data.own_data import (
    FramedSource,
    OwnDataOptions,
    announce,
    cache_path,
    read_cache,
    select_split,
    write_cache,
)
from fusionvae_core.image_codec import ImageFormatError, decode_compressed, decode_image, to_model_channels

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
FRAME_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)
STORAGE_SUFFIXES = (".mcap", ".db3")
MAX_FRAME_PIXELS = 50_000_000  # larger frames are damaged headers, not cameras
SPLIT_BLOCK_NS = 1_000_000_000
PAIR_SLOP_NS = 50_000_000  # a view belongs to a target frame logged at most 50 ms away
INDEX_VERSION = 1


@dataclass(frozen=True)
class Frame:
    """Where one frame is: bag path, topic, message type, log time and its ordinal among equal log times."""

    bag: Path
    topic: str
    msgtype: str
    log_time_ns: int
    ordinal: int


@cache
def typestore() -> Any:
    """Message definitions and CDR deserialisation (ROS 2 Kilted; Image and CompressedImage are the same in all
    distributions since Foxy)."""
    return get_typestore(Stores.ROS2_KILTED)


def find_bags(root: Path) -> list[Path]:
    """The bags at `root`: itself if it is one, else every bag folder and bare storage file below it."""
    if not root.exists():
        raise DatasetError(
            f"{root}: no such bag or folder (data.data_root of rosbag: a rosbag2 bag or a folder of bags)"
        )
    if root.is_file() or (root / "metadata.yaml").is_file():
        return [root]
    bag_dirs = sorted(path.parent for path in root.rglob("metadata.yaml"))
    bare = sorted(
        path
        for path in root.rglob("*")
        if path.suffix in STORAGE_SUFFIXES and not any(folder in path.parents for folder in bag_dirs)
    )
    bags = bag_dirs + bare
    if not bags:
        raise DatasetError(
            f"{root}: no rosbag2 bags found (looked for folders with metadata.yaml and *.mcap / *.db3 files)"
        )
    return bags


def storage_fingerprint(bag: Path) -> list[list[Any]]:
    """(name, size, mtime) of every file of the bag: the index is rebuilt when one of them changes."""
    files = sorted(bag.iterdir()) if bag.is_dir() else [bag]
    return [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in files if path.is_file()]


def open_reader(bag: Path) -> Reader:
    """An open rosbags Reader; DatasetError (one line) for a damaged or foreign bag."""
    try:
        reader = Reader(bag)
        reader.open()
    except Exception as error:  # rosbags raises assorted errors on damaged files; all mean unreadable
        raise DatasetError(f"{bag}: unreadable bag, damaged or not rosbag2 ({_one_line(error)})") from None
    return reader


def index_bag(bag: Path, options: OwnDataOptions) -> dict[str, Any]:
    """{"types": {topic: msgtype}, "times": {frame topic: [log times]}} of a bag, from the cache when current."""
    cache_file = cache_path(options, "rosbag", bag)
    fingerprint = storage_fingerprint(bag)
    cached = read_cache(cache_file)
    if cached.get("version") == INDEX_VERSION and cached.get("fingerprint") == fingerprint:
        return cached
    reader = open_reader(bag)
    try:
        types = {conn.topic: conn.msgtype for conn in reader.connections}
        times: dict[str, list[int]] = {topic: [] for topic, kind in types.items() if kind in FRAME_TYPES}
        connections = [conn for conn in reader.connections if conn.topic in times]
        if connections:
            for conn, log_time_ns, _ in reader.messages(connections):
                times[conn.topic].append(log_time_ns)
    except Exception as error:  # as in open_reader: a parser error while reading means a damaged storage file
        raise DatasetError(f"{bag}: bag is damaged ({_one_line(error)})") from None
    finally:
        reader.close()
    index = {"version": INDEX_VERSION, "fingerprint": fingerprint, "types": types, "times": times}
    write_cache(cache_file, index)
    return index


def check_topics(indexes: dict[Path, dict[str, Any]], topics: tuple[str, ...]) -> tuple[str, ...]:
    """`topics` (default: every image topic) after checking they exist and are images; DatasetError naming the
    bag's topics otherwise."""
    found = {topic: kind for index in indexes.values() for topic, kind in index["types"].items()}
    wanted = topics or tuple(sorted(topic for topic, kind in found.items() if kind in FRAME_TYPES))
    have = ", ".join(f"{topic} ({kind})" for topic, kind in sorted(found.items())) or "no topics"
    bags = list(indexes)
    where = str(bags[0]) if len(bags) == 1 else f"{len(bags)} bags under {bags[0].parent}"
    if not wanted:
        raise DatasetError(f"{where}: no sensor_msgs/Image or CompressedImage topic (has: {have})")
    for topic in wanted:
        if topic not in found:
            raise DatasetError(f"{where}: no topic {topic} (data.topics); the bag has: {have}")
        if found[topic] not in FRAME_TYPES:
            raise DatasetError(
                f"{where}: topic {topic} is {found[topic]}, not sensor_msgs/Image or CompressedImage (has: {have})"
            )
    return wanted


def topic_frames(bag: Path, index: dict[str, Any], topic: str, stride: int = 1) -> list[Frame]:
    """Every `stride`-th frame of `topic` in one indexed bag (in log-time order)."""
    frames, ordinals = [], Counter[int]()
    for log_time_ns in index["times"].get(topic, [])[::stride]:
        frames.append(Frame(bag, topic, index["types"][topic], log_time_ns, ordinals[log_time_ns]))
        ordinals[log_time_ns] += 1
    return frames


def nearest_frame(frames: list[Frame], times: list[int], log_time_ns: int) -> Frame | None:
    """The frame of `frames` (log times `times`, sorted) closest to `log_time_ns`, if within PAIR_SLOP_NS."""
    position = bisect.bisect_left(times, log_time_ns)
    candidates = [i for i in (position - 1, position) if 0 <= i < len(frames)]
    best = min(candidates, key=lambda i: abs(times[i] - log_time_ns), default=None)
    return frames[best] if best is not None and abs(times[best] - log_time_ns) <= PAIR_SLOP_NS else None


def decode_frame(msg: Any, msgtype: str, options: OwnDataOptions) -> np.ndarray:
    """Pixels of a deserialised Image/CompressedImage as uint8 [H,W,channels]; ImageFormatError if unusable."""
    if msgtype == IMAGE_TYPE:
        pixels, encoding = decode_image(msg, MAX_FRAME_PIXELS), msg.encoding
    else:
        pixels, encoding = decode_compressed(msg, MAX_FRAME_PIXELS, min_size=options.image_size)
    return to_model_channels(pixels, encoding, options.channels)


class BagSource(FramedSource):
    """The frames of one split, read and decoded on demand; each process opens its own readers."""

    def __init__(
        self, root: Path, split: str, options: OwnDataOptions, topics: tuple[str, ...] | None, stride: int
    ) -> None:
        """Index the bags under `root` and keep the frames of `split`."""
        if stride < 1:
            raise DatasetError(f"data.frame_stride: must be >= 1, got {stride}")
        indexes = {bag: index_bag(bag, options) for bag in find_bags(root)}
        items = self.select(indexes, topics, stride)
        if not items:
            raise DatasetError(f"rosbag {root}: the chosen topics hold no frames")
        keys = [f"{_relative(frame.bag, root)}@{frame.log_time_ns // SPLIT_BLOCK_NS}" for frame in items]
        what = f"rosbag {root}: {len(items)} items in {len(set(keys))} one-second blocks (the unit of the split)"
        chosen = select_split(keys, split, options, what)
        self.frames = [items[i] for i in chosen]
        super().__init__([self.label(frame) for frame in self.frames], options)
        per_topic = Counter(frame.topic for frame in items)
        counts = ", ".join(f"{topic}: {count}" for topic, count in sorted(per_topic.items()))
        announce(f"rosbag {root}: {len(items)} frames ({counts}) at stride {stride} from {len(indexes)} bag(s)")
        self._readers: dict[Path, Reader] = {}
        self._pid = os.getpid()

    def select(self, indexes: dict[Path, dict[str, Any]], topics: tuple[str, ...] | None, stride: int) -> list[Frame]:
        """The items of all bags: every `stride`-th frame of each chosen topic."""
        wanted = check_topics(indexes, topics or ())
        return [
            frame
            for bag, index in indexes.items()
            for topic in wanted
            for frame in topic_frames(bag, index, topic, stride)
        ]

    @staticmethod
    def label(frame: Frame) -> str:
        """How a frame is named in warnings: bag:topic@log time."""
        return f"{frame.bag.name}:{frame.topic}@{frame.log_time_ns}"

    def __getstate__(self) -> dict[str, Any]:
        """Readers stay in the process that opened them (a loader worker opens its own)."""
        return {**self.__dict__, "_readers": {}}

    def reader(self, bag: Path) -> Reader:
        """This process's open reader of `bag` (reopened after a fork: file offsets must not be shared)."""
        if self._pid != os.getpid():
            self._readers, self._pid = {}, os.getpid()
        if bag not in self._readers:
            self._readers[bag] = open_reader(bag)
        return self._readers[bag]

    def load(self, index: int) -> np.ndarray:
        """Frame `index` as uint8 [H,W,channels]; DatasetError if it cannot be read or decoded."""
        return self.read_frame(self.frames[index])

    def read_frame(self, frame: Frame) -> np.ndarray:
        """A frame's pixels as uint8 [H,W,channels]; DatasetError if it cannot be read or decoded."""
        reader = self.reader(frame.bag)
        connections = [conn for conn in reader.connections if conn.topic == frame.topic]
        try:
            stored = reader.messages(connections, start=frame.log_time_ns, stop=frame.log_time_ns + 1)
            data = next(data for position, (_, _, data) in enumerate(stored) if position == frame.ordinal)
            msg = typestore().deserialize_cdr(data, frame.msgtype)
            return decode_frame(msg, frame.msgtype, self.options)
        except ImageFormatError as error:
            raise DatasetError(f"{self.label(frame)}: {error}") from None
        except Exception as error:  # StopIteration (bag changed) or a parser error: the frame is unusable
            raise DatasetError(f"{self.label(frame)}: cannot be read ({_one_line(error)})") from None


class PairedBagSource(BagSource):
    """Items of `target_topic` frames, each with the recorded views of the view topics (module docstring)."""

    def __init__(
        self,
        root: Path,
        split: str,
        options: OwnDataOptions,
        topics: tuple[str, ...] | None,
        stride: int,
        target_topic: str,
    ) -> None:
        """Index the bags under `root`, pair every target frame with its views and keep the items of `split`."""
        if options.resize == "random_crop":
            raise DatasetError(
                "data.resize: random_crop would crop the recorded views and the target differently; use resize or "
                "center_crop with data.target_topic"
            )
        self.target_topic = target_topic
        self.views: dict[Frame, list[Frame]] = {}
        super().__init__(root, split, options, topics, stride)

    def select(self, indexes: dict[Path, dict[str, Any]], topics: tuple[str, ...] | None, stride: int) -> list[Frame]:
        """Target frames (every `stride`-th) that have a frame of every view topic within PAIR_SLOP_NS."""
        check_topics(indexes, (self.target_topic,))
        image_topics = check_topics(indexes, ())
        view_topics = topics or tuple(topic for topic in image_topics if topic != self.target_topic)
        check_topics(indexes, view_topics)
        if not 1 <= len(view_topics) <= NUM_VIEWS or self.target_topic in view_topics:
            raise DatasetError(
                f"data.topics: 1 to {NUM_VIEWS} view topics other than data.target_topic {self.target_topic}, got "
                f"{list(view_topics)}"
            )
        items, dropped = [], 0
        for bag, index in indexes.items():
            candidates = {topic: topic_frames(bag, index, topic) for topic in view_topics}
            times = {topic: [frame.log_time_ns for frame in frames] for topic, frames in candidates.items()}
            for target in topic_frames(bag, index, self.target_topic, stride):
                views = [nearest_frame(candidates[t], times[t], target.log_time_ns) for t in view_topics]
                if None in views:
                    dropped += 1
                    continue
                items.append(target)
                self.views[target] = [view for view in views if view is not None]
        announce(
            f"rosbag: {len(items)} {self.target_topic} frames paired with views of {', '.join(view_topics)}"
            f"; {dropped} without every view within {PAIR_SLOP_NS // 1_000_000} ms dropped"
        )
        return items

    def target_and_views(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Target [C,H,W] and its recorded views [3,C,H,W] (fewer view topics repeat), or the next readable item."""
        return self.first_readable(index, self._read_item)

    def _read_item(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Target and views of item `index`, framed; DatasetError if one of them cannot be decoded."""
        target = self.framed(self.load(index), None)
        views = [self.framed(self.read_frame(view), None) for view in self.views[self.frames[index]]]
        return target, np.stack([views[i % len(views)] for i in range(NUM_VIEWS)])


def _relative(bag: Path, root: Path) -> str:
    """The bag's path relative to the data root ('.' for the root itself)."""
    return bag.relative_to(root).as_posix() if bag != root else "."


def _one_line(error: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__
