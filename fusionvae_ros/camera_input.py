"""Camera messages in: which topic a transport is on, how a message is decoded, and colour mismatches. ROS-free.

``raw`` is sensor_msgs/Image on the camera topic; ``compressed`` is sensor_msgs/CompressedImage on
``<camera topic>/compressed``, the topic image_transport's compressed plugin publishes next to the raw one.
Compressed JPEG views are decoded at libjpeg's reduced scale when the model is much smaller than the camera.
Messages are duck-typed: rclpy messages and rosbags-deserialised ones decode alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fusionvae_core.image_codec import INPUT_FORMATS, compressed_image_size, decode_compressed, decode_image

INPUT_TRANSPORTS = ("raw", "compressed")


@dataclass(frozen=True)
class DecodedView:
    """A camera message's pixels, their encoding, and the (width, height) of the image the camera sent."""

    pixels: np.ndarray  # [h, w, C] uint8/uint16; smaller than camera_size after a reduced-scale JPEG decode
    encoding: str
    camera_size: tuple[int, int]


def transport_topic(camera_topic: str, transport: str) -> str:
    """The topic a camera publishes ``transport`` on (image_transport naming: <base>/compressed)."""
    return camera_topic if transport == "raw" else f"{camera_topic.rstrip('/')}/{transport}"


def decode_view(msg: Any, transport: str, max_pixels: int, min_size: int | None) -> DecodedView:
    """Decode one camera message; ``min_size`` lets a JPEG decode at reduced scale (both sides stay >= it).

    Raises ImageFormatError (with the reason the diagnostics count) for unusable messages.
    """
    if transport == "raw":
        return DecodedView(decode_image(msg, max_pixels), msg.encoding, (msg.width, msg.height))
    pixels, encoding = decode_compressed(msg, max_pixels, min_size)
    return DecodedView(pixels, encoding, compressed_image_size(msg))


def colour_mismatch(encoding: str, model_channels: int) -> str | None:
    """What the model does with a camera's colours when they do not match its own (None when they match)."""
    camera_channels = 1 if INPUT_FORMATS[encoding].order == "gray" else 3
    if camera_channels == model_channels:
        return None
    if model_channels == 1:
        return f"sends colour ({encoding}) but the model is grey: colour is dropped (luminance), outputs are mono8"
    return f"sends grey ({encoding}) but the model is RGB: grey is copied into 3 channels, outputs are rgb8"
