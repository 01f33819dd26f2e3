"""Reading and writing rosbag2 (MCAP) files for the bag tools, with one-line errors and atomic outputs.

rosbags provides the container and, through its Kilted type store, message definitions and (de)serialisation
without rclpy; replay and record pass the stored CDR bytes through rclpy untouched. An output bag is
written into a hidden temporary folder beside its destination and renamed into place only once it is
complete, so a failed or killed writer never leaves a half-written bag at the output path.
"""

from __future__ import annotations

import array
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

from fusionvae_ros import outputs
from fusionvae_ros.camera_input import transport_topic

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)  # what a camera topic may carry (raw or compressed transport)
STRING_TYPE = "std_msgs/msg/String"
CLOCK_TYPE = "rosgraph_msgs/msg/Clock"

CAMERA_TOPICS = ("/camera_0/image_raw", "/camera_1/image_raw", "/camera_2/image_raw")
GROUND_TRUTH_TOPIC = "/ground_truth/image"
SET_INFO_TOPIC = "/fusionvae/set_info"
# the node's outputs as a bag holds them (the node's relative topics, at the root namespace)
FUSED_SET_INFO_TOPIC = "/" + outputs.SET_INFO_TOPIC
HYPOTHESES_TOPIC = "/" + outputs.HYPOTHESES_TOPIC
MEAN_TOPIC = "/" + outputs.MEAN_TOPIC
UNCERTAINTY_TOPIC = "/" + outputs.UNCERTAINTY_TOPIC
FUSED_TOPICS = (FUSED_SET_INFO_TOPIC, HYPOTHESES_TOPIC, MEAN_TOPIC, UNCERTAINTY_TOPIC)
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


def type_name(msg_type: type) -> str:
    """The ROS type name of an rclpy message class, e.g. 'sensor_msgs/msg/Image'."""
    return f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"


def serialize_message(msg: Any) -> bytes:
    """CDR bytes of an rclpy message (an Image from image_codec.encode_image, a fused/set_info ...).

    Serialised through the rosbags type store, whose padding bytes are zero: the same message always gives the
    same bytes (rclpy's serialiser leaves alignment padding uninitialised, which makes bags differ run to run).
    """
    return bytes(typestore().serialize_cdr(_as_rosbags(msg), type_name(type(msg))))


def _as_rosbags(value: Any) -> Any:
    """An rclpy message (or field value) as the rosbags type store's dataclasses and numpy arrays."""
    if hasattr(value, "get_fields_and_field_types"):
        fields = {name: _as_rosbags(getattr(value, name)) for name in value.get_fields_and_field_types()}
        return typestore().types[type_name(type(value))](**fields)
    if isinstance(value, array.array):  # primitive sequences (Image.data, CameraInfo.d)
        return np.array(value, dtype=value.typecode)
    if isinstance(value, list):
        return [_as_rosbags(item) for item in value]
    if isinstance(value, bytes) and len(value) == 1:  # byte/octet fields (DiagnosticStatus.level)
        return value[0]
    return value


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

    def require_cameras(self, camera_topics: Collection[str], transport: str) -> list[str]:
        """The topics the cameras of ``camera_topics`` (base names) publish ``transport`` on; BagError if missing."""
        topics = [transport_topic(topic, transport) for topic in camera_topics]
        msgtype = COMPRESSED_IMAGE_TYPE if transport == "compressed" else IMAGE_TYPE
        self.require(topics, msgtype, "pass --camera-topics (base topics) and --input-transport matching the bag")
        return topics

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
