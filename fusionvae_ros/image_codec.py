"""sensor_msgs/Image <-> numpy without cv_bridge: honours encoding, step (row padding) and is_bigendian.

Decoding returns a zero-copy view of the message buffer; encoding copies the array once into Image.data with
``array.frombytes`` (assigning a sequence instead makes rosidl check and convert every byte: orders slower).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import cv2
import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from fusionvae_ros.guard import RejectedInputError


@dataclass(frozen=True)
class PixelFormat:
    """How one encoding lays out a pixel: channel count, sample type and (for colour) the channel order."""

    channels: int
    bits: int
    order: str  # "gray", "rgb", "bgr", "rgba" or "bgra"


#: Encodings the node accepts on its camera topics.
INPUT_FORMATS: dict[str, PixelFormat] = {
    "mono8": PixelFormat(1, 8, "gray"),
    "8UC1": PixelFormat(1, 8, "gray"),
    "mono16": PixelFormat(1, 16, "gray"),
    "16UC1": PixelFormat(1, 16, "gray"),
    "rgb8": PixelFormat(3, 8, "rgb"),
    "bgr8": PixelFormat(3, 8, "bgr"),
    "rgba8": PixelFormat(4, 8, "rgba"),
    "bgra8": PixelFormat(4, 8, "bgra"),
}

# cv2 colour conversions to the model's channels, keyed by (source order, model channels); None = no conversion.
_TO_MODEL_CHANNELS: dict[tuple[str, int], int | None] = {
    ("gray", 1): None,
    ("gray", 3): cv2.COLOR_GRAY2RGB,
    ("rgb", 1): cv2.COLOR_RGB2GRAY,
    ("rgb", 3): None,
    ("bgr", 1): cv2.COLOR_BGR2GRAY,
    ("bgr", 3): cv2.COLOR_BGR2RGB,
    ("rgba", 1): cv2.COLOR_RGBA2GRAY,
    ("rgba", 3): cv2.COLOR_RGBA2RGB,
    ("bgra", 1): cv2.COLOR_BGRA2GRAY,
    ("bgra", 3): cv2.COLOR_BGRA2RGB,
}


class ImageFormatError(RejectedInputError):
    """An Image message the node cannot use; ``reason`` is the short code counted in the diagnostics."""


def decode_image(msg: Image, max_pixels: int) -> np.ndarray:
    """The pixels of ``msg`` as an [H, W, C] uint8/uint16 array in native byte order (a view where possible).

    Raises ImageFormatError (reasons: encoding, zero_size, too_large, step, data_length) for unusable messages.
    """
    pixel_format = INPUT_FORMATS.get(msg.encoding)
    if pixel_format is None:
        raise ImageFormatError(
            "encoding", f"unsupported encoding '{msg.encoding}' (supported: {', '.join(INPUT_FORMATS)})"
        )
    height, width, step = msg.height, msg.width, msg.step
    if height == 0 or width == 0:
        raise ImageFormatError("zero_size", f"image has zero size ({width}x{height})")
    if height * width > max_pixels:
        raise ImageFormatError("too_large", f"image {width}x{height} exceeds max_image_pixels={max_pixels}")
    sample_bytes = pixel_format.bits // 8
    row_bytes = width * pixel_format.channels * sample_bytes
    if step < row_bytes or step % sample_bytes:
        raise ImageFormatError(
            "step", f"step {step} does not fit a {width}-pixel {msg.encoding} row ({row_bytes} bytes)"
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size != step * height:
        raise ImageFormatError("data_length", f"data has {data.size} bytes, expected step*height = {step * height}")
    rows = data.reshape(height, step)[:, :row_bytes]
    if sample_bytes == 1:
        return rows.reshape(height, width, pixel_format.channels)
    wire_type = np.dtype(">u2" if msg.is_bigendian else "<u2")
    samples = rows.view(wire_type)
    return samples.reshape(height, width, pixel_format.channels).astype(np.uint16, copy=False)


def to_model_channels(pixels: np.ndarray, encoding: str, channels: int) -> np.ndarray:
    """Convert decoded pixels to contiguous uint8 [H, W, channels]: grey models get luminance, RGB models RGB.

    16-bit samples are scaled to 8 bit (round(v / 257), so 65535 -> 255); luminance uses ITU-R BT.601 weights.
    """
    pixel_format = INPUT_FORMATS[encoding]
    if pixels.dtype == np.uint16:  # saturate(round(v / 257)) equals (v + 128) // 257 for every 16-bit v
        pixels = cv2.convertScaleAbs(pixels, alpha=1 / 257).reshape(pixels.shape)
    key = (pixel_format.order, channels)
    if key not in _TO_MODEL_CHANNELS:
        raise ValueError(f"model channel count must be 1 or 3, got {channels}")
    conversion = _TO_MODEL_CHANNELS[key]
    if conversion is None:
        return np.ascontiguousarray(pixels)
    converted = cv2.cvtColor(np.ascontiguousarray(pixels), conversion)
    return converted.reshape(*converted.shape[:2], channels)


def encode_image(pixels: np.ndarray, header: Header) -> Image:
    """Build an Image from [H, W, 1] / [H, W, 3] uint8 (mono8 / rgb8) or [H, W] float32 (32FC1) pixels."""
    if pixels.dtype == np.float32 and pixels.ndim == 2:
        encoding = "32FC1"
    elif pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] in (1, 3):
        encoding = "mono8" if pixels.shape[2] == 1 else "rgb8"
    else:
        raise ValueError(f"cannot encode a {pixels.dtype} array of shape {pixels.shape} as an Image")
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    msg = Image(
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(sys.byteorder == "big"),
        step=pixels.strides[0],
    )
    msg.data.frombytes(pixels.view(np.uint8).data)
    return msg
