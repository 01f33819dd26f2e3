"""`rosbag` dataset: the frames of sensor_msgs/Image and CompressedImage topics of rosbag2 bags as targets.

`data.data_root` is a bag (a rosbag2 folder with metadata.yaml, MCAP or sqlite3 storage, or a bare .mcap/.db3
file) or a folder holding several bags (searched recursively). `data.topics` names the camera topics (default:
every Image/CompressedImage topic); `data.frame_stride` keeps every N-th frame of each topic (a 30 Hz camera at
stride 10 gives 3 frames per second). Pixels are decoded by the package's one codec (fusionvae_core.image_codec),
JPEG at the smallest libjpeg reduction that still covers the model size.

A bag is read once, sequentially, to index the log time of every frame (nothing is kept in memory but the
times); the index is cached in the cache folder and rebuilt when a storage file of the bag changes (size or
modification time). An item is read when the loader asks for it, by a time-window query on its log time (MCAP:
only the chunk holding it is decompressed). Split: own_data.py's hash on (bag, second of the log time), so the
near-identical neighbouring frames of a video land in the same split, and all cameras of one moment too.
"""

from __future__ import annotations

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


def select_frames(
    bags: list[Path], topics: tuple[str, ...] | None, stride: int, options: OwnDataOptions
) -> list[Frame]:
    """Every `stride`-th frame of each chosen topic of each bag; DatasetError naming missing or non-image topics."""
    frames = []
    indexes = {bag: index_bag(bag, options) for bag in bags}
    found = {topic: kind for index in indexes.values() for topic, kind in index["types"].items()}
    wanted = topics or tuple(sorted(topic for topic, kind in found.items() if kind in FRAME_TYPES))
    have = ", ".join(f"{topic} ({kind})" for topic, kind in sorted(found.items())) or "no topics"
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
    for bag, index in indexes.items():
        for topic in wanted:
            ordinals: Counter[int] = Counter()
            for log_time_ns in index["times"].get(topic, [])[::stride]:
                frames.append(Frame(bag, topic, index["types"][topic], log_time_ns, ordinals[log_time_ns]))
                ordinals[log_time_ns] += 1
    if not frames:
        raise DatasetError(f"{where}: the topics {', '.join(wanted)} hold no frames")
    return frames


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
        bags = find_bags(root)
        frames = select_frames(bags, topics, stride, options)
        keys = [f"{_relative(frame.bag, root)}@{frame.log_time_ns // SPLIT_BLOCK_NS}" for frame in frames]
        what = f"rosbag {root}: {len(frames)} frames in {len(set(keys))} one-second blocks (the unit of the split)"
        chosen = select_split(keys, split, options, what)
        self.frames = [frames[i] for i in chosen]
        super().__init__([f"{f.bag.name}:{f.topic}@{f.log_time_ns}" for f in self.frames], options)
        per_topic = Counter(frame.topic for frame in frames)
        counts = ", ".join(f"{topic}: {count}" for topic, count in sorted(per_topic.items()))
        announce(f"rosbag {root}: {len(frames)} frames ({counts}) at stride {stride} from {len(bags)} bag(s)")
        self._readers: dict[Path, Reader] = {}
        self._pid = os.getpid()

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
        frame = self.frames[index]
        reader = self.reader(frame.bag)
        connections = [conn for conn in reader.connections if conn.topic == frame.topic]
        try:
            stored = reader.messages(connections, start=frame.log_time_ns, stop=frame.log_time_ns + 1)
            data = next(data for position, (_, _, data) in enumerate(stored) if position == frame.ordinal)
            msg = typestore().deserialize_cdr(data, frame.msgtype)
            return decode_frame(msg, frame.msgtype, self.options)
        except ImageFormatError as error:
            raise DatasetError(f"{self.names[index]}: {error}") from None
        except Exception as error:  # StopIteration (bag changed) or a parser error: the frame is unusable
            raise DatasetError(f"{self.names[index]}: cannot be read ({_one_line(error)})") from None


def _relative(bag: Path, root: Path) -> str:
    """The bag's path relative to the data root ('.' for the root itself)."""
    return bag.relative_to(root).as_posix() if bag != root else "."


def _one_line(error: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__
