"""Writing small real rosbag2 bags of camera topics (raw Image and CompressedImage) for the own-data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from fusionvae_core.image_codec import encode_compressed

START_NS = 1_700_000_000 * 1_000_000_000
RAW_ENCODINGS = ("bgr8", "rgb8", "mono8")
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


def smooth_frames(count: int, height: int, width: int, seed: int) -> list[np.ndarray]:
    """`count` smooth random RGB frames uint8 [height, width, 3] (JPEG-friendly, all different)."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    cols = np.linspace(0.0, 1.0, width)[None, :, None]
    frames = []
    for _ in range(count):
        a, b, c = rng.random((3, 1, 1, 3))
        frames.append(np.round(255 * (0.15 + 0.7 * (a * rows + b * cols + c) / 3)).astype(np.uint8))
    return frames


def write_camera_bag(
    path: Path,
    streams: dict[str, tuple[str, list[np.ndarray | None]]],
    storage: str = "mcap",
    period_ns: int = 100_000_000,
    offsets_ns: dict[str, int] | None = None,
) -> Path:
    """A bag with one topic per stream: (kind, RGB frames); kind is a raw encoding (bgr8, rgb8, mono8 → Image),
    "jpeg"/"png" (→ CompressedImage as image_transport writes it) or "text" (→ std_msgs/String, a non-image
    topic). Frame i is logged at START_NS + i·period + the topic's offset; a None frame is a dropped one."""
    store = get_typestore(Stores.ROS2_KILTED)
    types = store.types
    with Writer(path, version=9, storage_plugin=STORAGES[storage]) as writer:
        for topic, (kind, frames) in streams.items():
            msgtype = {"text": "std_msgs/msg/String", **dict.fromkeys(RAW_ENCODINGS, "sensor_msgs/msg/Image")}.get(
                kind, "sensor_msgs/msg/CompressedImage"
            )
            connection = writer.add_connection(topic, msgtype, typestore=store)
            for i, rgb in enumerate(frames):
                if rgb is None:
                    continue
                stamp_ns = START_NS + i * period_ns + (offsets_ns or {}).get(topic, 0)
                header = types["std_msgs/msg/Header"](
                    stamp=types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
                    frame_id=topic.strip("/").split("/")[0],
                )
                if kind == "text":
                    msg = types[msgtype](data=f"frame {i}")
                elif kind in RAW_ENCODINGS:
                    pixels = {"bgr8": rgb[:, :, ::-1], "rgb8": rgb, "mono8": rgb[:, :, :1]}[kind]
                    pixels = np.ascontiguousarray(pixels)
                    msg = types[msgtype](
                        header=header,
                        height=pixels.shape[0],
                        width=pixels.shape[1],
                        encoding=kind,
                        is_bigendian=0,
                        step=pixels.shape[1] * pixels.shape[2],
                        data=pixels.reshape(-1),
                    )
                else:
                    text, payload = encode_compressed(rgb, "rgb8", codec=kind)
                    msg = types[msgtype](header=header, format=text, data=np.frombuffer(payload, dtype=np.uint8))
                writer.write(connection, stamp_ns, store.serialize_cdr(msg, msgtype))
    return path
