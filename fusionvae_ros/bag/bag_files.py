"""Reading and writing rosbag2 (MCAP) files for the bag tools, with one-line errors and atomic outputs.

rosbags provides the container and, through its Kilted type store, message definitions and (de)serialisation
without rclpy; replay and record pass the stored CDR bytes through rclpy untouched. An output bag is
written into a hidden temporary folder beside its destination and renamed into place only once it is
complete, so a failed or killed writer never leaves a half-written bag at the output path.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_typestore

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)  # what a camera topic may carry (raw or compressed transport)
STRING_TYPE = "std_msgs/msg/String"
CLOCK_TYPE = "rosgraph_msgs/msg/Clock"

CAMERA_TOPICS = ("/camera_0/image_raw", "/camera_1/image_raw", "/camera_2/image_raw")
GROUND_TRUTH_TOPIC = "/ground_truth/image"
SET_INFO_TOPIC = "/fusionvae/set_info"
HYPOTHESES_TOPIC = "/fused/hypotheses"
MEAN_TOPIC = "/fused/mean"
UNCERTAINTY_TOPIC = "/fused/uncertainty"
FUSED_TOPICS = (HYPOTHESES_TOPIC, MEAN_TOPIC, UNCERTAINTY_TOPIC)
CLOCK_TOPIC = "/clock"


class BagError(Exception):
    """A bag cannot be read or written as asked; the message is one line naming the bag and the problem."""


@dataclass(frozen=True)
class BagMessage:
    """One stored message: topic, type name, log time (ns, when it was recorded) and its CDR bytes."""

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes


@cache
def typestore() -> Any:
    """The rosbags type store of ROS 2 Kilted: message definitions, hashes and CDR (de)serialisation."""
    return get_typestore(Stores.ROS2_KILTED)


@cache
def message_class(msgtype: str) -> Any:
    """The rclpy message class of a type name such as 'sensor_msgs/msg/Image'."""
    package, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError):
        raise BagError(f"message type {msgtype} is not installed in this ROS environment") from None


def serialize_image(msg: Any) -> bytes:
    """CDR bytes of an rclpy sensor_msgs/Image (as made by image_codec.encode_image).

    Serialised through the rosbags type store, whose padding bytes are zero: the same message always gives the
    same bytes (rclpy's serialiser leaves alignment padding uninitialised, which makes bags differ run to run).
    """
    types = typestore().types
    stamp = types["builtin_interfaces/msg/Time"](sec=msg.header.stamp.sec, nanosec=msg.header.stamp.nanosec)
    image = types[IMAGE_TYPE](
        header=types["std_msgs/msg/Header"](stamp=stamp, frame_id=msg.header.frame_id),
        height=msg.height,
        width=msg.width,
        encoding=msg.encoding,
        is_bigendian=msg.is_bigendian,
        step=msg.step,
        data=np.frombuffer(msg.data, dtype=np.uint8),
    )
    return bytes(typestore().serialize_cdr(image, IMAGE_TYPE))


def serialize_compressed(stamp_ns: int, frame_id: str, fmt: str, payload: bytes) -> bytes:
    """CDR bytes of a sensor_msgs/CompressedImage (format string and JPEG/PNG payload as image_transport sends)."""
    types = typestore().types
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
        frame_id=frame_id,
    )
    message = types[COMPRESSED_IMAGE_TYPE](header=header, format=fmt, data=np.frombuffer(payload, dtype=np.uint8))
    return bytes(typestore().serialize_cdr(message, COMPRESSED_IMAGE_TYPE))


def serialize_text(text: str) -> bytes:
    """CDR bytes of a std_msgs/String."""
    return bytes(typestore().serialize_cdr(typestore().types[STRING_TYPE](data=text), STRING_TYPE))


def stamp_to_ns(stamp: Any) -> int:
    """Nanoseconds of a builtin_interfaces/Time."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(stamp_ns: int) -> Any:
    """A builtin_interfaces/Time for ``stamp_ns`` nanoseconds."""
    from builtin_interfaces.msg import Time

    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


class InputBag:
    """A rosbag2 opened for reading; every failure (missing, foreign, truncated) becomes a one-line BagError."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"{self.path}: no such bag")
        if self.path.is_dir() and not (self.path / "metadata.yaml").is_file():
            raise BagError(f"{self.path}: not a rosbag2 bag (a bag folder holds metadata.yaml and its storage files)")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as error:  # rosbags' parsers raise assorted errors on damaged files; all mean unreadable
            raise BagError(f"{self.path}: unreadable bag, truncated or not rosbag2 ({_one_line(error)})") from None
        self.topics: dict[str, str] = {conn.topic: conn.msgtype for conn in self._reader.connections}
        self.counts: dict[str, int] = {}
        for conn in self._reader.connections:
            self.counts[conn.topic] = self.counts.get(conn.topic, 0) + conn.msgcount
        self.duration_ns: int = self._reader.duration
        self.custom_data: dict[str, str] = _custom_data(self.path)

    def __enter__(self) -> InputBag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the bag's files."""
        with contextlib.suppress(ReaderError):
            self._reader.close()

    def require(self, topics: Collection[str], msgtype: str, purpose: str) -> None:
        """Fail with the topics found when one of ``topics`` is missing or not of ``msgtype`` (a foreign bag)."""
        for topic in topics:
            found = self.topics.get(topic)
            if found != msgtype:
                have = ", ".join(f"{name} ({kind})" for name, kind in sorted(self.topics.items())) or "no topics"
                problem = "is missing" if found is None else f"has type {found}"
                raise BagError(f"{self.path}: topic {topic} ({msgtype}) {problem}; {purpose} (bag has: {have})")

    def messages(self, topics: Collection[str] = ()) -> Iterator[BagMessage]:
        """Messages of ``topics`` (all when empty) in log-time order; read errors become BagError."""
        connections = [conn for conn in self._reader.connections if not topics or conn.topic in topics]
        if not connections:
            return
        try:
            for conn, log_time_ns, data in self._reader.messages(connections):
                yield BagMessage(conn.topic, conn.msgtype, log_time_ns, bytes(data))
        except Exception as error:  # as in __init__: any parser error here means a damaged storage file
            raise BagError(f"{self.path}: bag is damaged ({_one_line(error)})") from None

    def decode(self, message: BagMessage) -> Any:
        """The message stored in ``message`` as a rosbags dataclass (image data as a numpy array)."""
        try:
            return typestore().deserialize_cdr(message.data, message.msgtype)
        except Exception as error:  # rosbags raises assorted errors for bad CDR; all mean a damaged message
            raise BagError(
                f"{self.path}: damaged {message.msgtype} message on {message.topic} ({_one_line(error)})"
            ) from None


def bag_cameras(bag: InputBag, transport: str | None) -> tuple[str, list[str]]:
    """The camera transport and the /camera_N/image_raw base topics ``bag`` holds: ``transport`` if given, else
    compressed when the bag has only <topic>/compressed camera topics (image_transport naming), else raw."""
    raw = [topic for topic in CAMERA_TOPICS if topic in bag.topics]
    compressed = [topic for topic in CAMERA_TOPICS if f"{topic}/compressed" in bag.topics]
    transport = transport or ("compressed" if compressed and not raw else "raw")
    return transport, compressed if transport == "compressed" else raw


class OutputBag:
    """A new rosbag2 (MCAP) written into a temporary folder and renamed to ``path`` by ``commit``.

    Use as a context manager: a clean exit commits, an exception discards everything written. An existing
    ``path`` is refused unless ``overwrite`` (then it is replaced only when the new bag is complete).
    """

    def __init__(self, path: str | os.PathLike[str], overwrite: bool = False) -> None:
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise BagError(f"{self.path}: output exists already (pass --overwrite to replace it)")
        if self.path.exists() and not _looks_like_bag(self.path):
            raise BagError(f"{self.path}: exists and is not a rosbag2 bag; refusing to replace it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.partial-", dir=self.path.parent))
        self._writer = Writer(self._staging / self.path.name, version=9, storage_plugin=StoragePlugin.MCAP)
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        try:
            self._writer.open()
        except (WriterError, OSError) as error:
            self.discard()
            raise BagError(f"{self.path}: cannot write bag ({_one_line(error)})") from None

    def __enter__(self) -> OutputBag:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare a topic before writing to it (its definition comes from the Kilted type store)."""
        if topic in self._connections:
            return
        try:
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=typestore())
        except (WriterError, KeyError) as error:
            raise BagError(f"{self.path}: cannot add topic {topic} of type {msgtype} ({_one_line(error)})") from None
        self.counts[topic] = 0

    def write(self, topic: str, log_time_ns: int, data: bytes) -> None:
        """Append the CDR bytes of one message on a declared topic."""
        self._writer.write(self._connections[topic], log_time_ns, data)
        self.counts[topic] += 1

    def set_custom_data(self, key: str, value: str) -> None:
        """Store a key/value string in the bag's metadata.yaml (custom_data)."""
        self._writer.set_custom_data(key, value)

    def commit(self) -> None:
        """Finish the bag (index, metadata.yaml) and move it to ``path``, replacing an old bag there."""
        try:
            self._writer.close()
            if self.path.exists():
                self.path.rename(self._staging / "replaced")
            (self._staging / self.path.name).rename(self.path)
        except (WriterError, OSError) as error:
            if not self.path.exists() and (self._staging / "replaced").exists():
                (self._staging / "replaced").rename(self.path)
            self.discard()
            raise BagError(f"{self.path}: cannot finish bag ({_one_line(error)})") from None
        shutil.rmtree(self._staging, ignore_errors=True)

    def discard(self) -> None:
        """Drop everything written; ``path`` stays as it was."""
        with contextlib.suppress(Exception):
            self._writer.abort()
        shutil.rmtree(self._staging, ignore_errors=True)


def _custom_data(path: Path) -> dict[str, str]:
    """The custom_data notes of a bag's metadata.yaml (rosbags' Reader does not expose them); {} if none."""
    try:
        metadata = yaml.safe_load((path / "metadata.yaml").read_text())
        notes = metadata["rosbag2_bagfile_information"].get("custom_data") or {}
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return {}
    return {str(key): str(value) for key, value in notes.items()} if isinstance(notes, dict) else {}


def _looks_like_bag(path: Path) -> bool:
    """Whether ``path`` is a rosbag2 folder (so replacing it with --overwrite cannot destroy unrelated data)."""
    return path.is_dir() and (path / "metadata.yaml").is_file()


def _one_line(error: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__
