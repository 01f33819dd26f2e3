"""Camera image messages -> numpy without ROS or cv_bridge: sensor_msgs/Image and sensor_msgs/CompressedImage.

Works on any object with the message's fields (rclpy messages and rosbags-deserialised ones alike), so the node,
the bag tools and the rosbag dataset share one decoder. Raw decoding honours encoding, step (row padding) and
is_bigendian and returns a zero-copy view of the message buffer; compressed decoding reads the format strings
image_transport's ``compressed`` plugin writes and can let libjpeg decode at 1/2, 1/4 or 1/8 scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class PixelFormat:
    """How one encoding lays out a pixel: channel count, sample type and (for colour) the channel order."""

    channels: int
    bits: int
    order: str  # "gray", "rgb", "bgr", "rgba" or "bgra"


#: Encodings the node accepts on its camera topics (and that compressed decoding can return).
INPUT_FORMATS: dict[str, PixelFormat] = {
    "mono8": PixelFormat(1, 8, "gray"),
    "8UC1": PixelFormat(1, 8, "gray"),
    "mono16": PixelFormat(1, 16, "gray"),
    "16UC1": PixelFormat(1, 16, "gray"),
    "rgb8": PixelFormat(3, 8, "rgb"),
    "bgr8": PixelFormat(3, 8, "bgr"),
    "rgba8": PixelFormat(4, 8, "rgba"),
    "bgra8": PixelFormat(4, 8, "bgra"),
    "rgb16": PixelFormat(3, 16, "rgb"),
    "bgr16": PixelFormat(3, 16, "bgr"),
    "rgba16": PixelFormat(4, 16, "rgba"),
    "bgra16": PixelFormat(4, 16, "bgra"),
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

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (0xC0-0xCF except DHT 0xC4, JPG 0xC8, DAC 0xCC) carry the frame's size.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# JPEG markers without a length field.
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})
# libjpeg's DCT scaling factors OpenCV exposes, largest first, with the imdecode flag for each.
_JPEG_REDUCTIONS = (
    (8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
    (4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
    (2, cv2.IMREAD_REDUCED_GRAYSCALE_2),
)
_ORDER_BY_CHANNELS = {1: "mono", 3: "bgr", 4: "bgra"}


class ImageFormatError(ValueError):
    """An image message the node cannot use; ``reason`` is the short code counted in the diagnostics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def decode_image(msg: Any, max_pixels: int) -> np.ndarray:
    """The pixels of a sensor_msgs/Image as an [H, W, C] uint8/uint16 array in native byte order (a view).

    Raises ImageFormatError (reasons: encoding, zero_size, too_large, step, data_length) for unusable messages.
    """
    pixel_format = INPUT_FORMATS.get(msg.encoding)
    if pixel_format is None:
        raise ImageFormatError(
            "encoding", f"unsupported encoding '{msg.encoding}' (supported: {', '.join(INPUT_FORMATS)})"
        )
    height, width, step = msg.height, msg.width, msg.step
    _check_size(width, height, max_pixels)
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


@dataclass(frozen=True)
class CompressedFormat:
    """A CompressedImage ``format`` string, split: the camera's encoding and the channel order of the payload."""

    source_encoding: str  # encoding of the image before compression ("" for plain "jpeg" / "png")
    payload_order: str  # channel order imdecode returns: "rgb" only when the format says so, else "bgr"


def parse_compressed_format(text: str) -> CompressedFormat:
    """Parse ``bgr8; jpeg compressed bgr8``, ``mono8; jpeg compressed ``, ``rgb8; png compressed rgb8``, ``jpeg``.

    Raises ImageFormatError (reason: format) for compressedDepth and formats that are not JPEG or PNG.
    """
    source, _, transport = (part.strip() for part in text.partition(";"))
    if not transport and source.lower() in ("", "jpeg", "jpg", "png"):
        return CompressedFormat("", "bgr")
    words = transport.split()
    if len(words) < 2 or words[0].lower() not in ("jpeg", "png") or words[1] != "compressed":
        raise ImageFormatError("format", f"unsupported CompressedImage format '{text}' (JPEG or PNG only)")
    target = words[2] if len(words) > 2 else ""
    return CompressedFormat(source, "rgb" if target.startswith("rgb") else "bgr")


def decode_compressed(msg: Any, max_pixels: int, min_size: int | None = None) -> tuple[np.ndarray, str]:
    """Decode a sensor_msgs/CompressedImage to ([H, W, C] uint8/uint16 pixels, their encoding, e.g. "bgr8").

    With ``min_size`` a JPEG is decoded at the largest libjpeg reduction (1/2, 1/4, 1/8) that keeps both sides
    >= min_size: far cheaper than a full decode followed by a resize when the model is much smaller than the
    camera. PNG always decodes at full size and keeps 16-bit samples. Raises ImageFormatError (reasons: format,
    corrupt, zero_size, too_large) for payloads that are not a decodable JPEG/PNG image of a sane size.
    """
    compressed_format = parse_compressed_format(msg.format)
    data = np.frombuffer(msg.data, dtype=np.uint8)
    head = data[:32].tobytes()
    if head.startswith(_JPEG_MAGIC):
        width, height, grey = _jpeg_frame(data)
        _check_size(width, height, max_pixels)
        flags = _jpeg_decode_flags(width, height, grey, min_size)
    elif head.startswith(_PNG_MAGIC):
        width, height = _png_size(head)
        _check_size(width, height, max_pixels)
        flags = cv2.IMREAD_UNCHANGED
    else:
        raise ImageFormatError("corrupt", f"payload ({data.size} bytes) is neither JPEG nor PNG data")
    pixels = cv2.imdecode(data, flags)
    if pixels is None:
        raise ImageFormatError("corrupt", f"{width}x{height} payload of {data.size} bytes does not decode")
    pixels = pixels.reshape(*pixels.shape[:2], -1)
    order = _ORDER_BY_CHANNELS[pixels.shape[2]]
    if compressed_format.payload_order == "rgb" and order != "mono":
        order = order.replace("bgr", "rgb")
    return pixels, f"{order}{16 if pixels.dtype == np.uint16 else 8}"


def encode_compressed(pixels: np.ndarray, encoding: str, codec: str = "jpeg", quality: int = 95) -> tuple[str, bytes]:
    """Compress [H, W, C] pixels as image_transport's ``compressed`` plugin does: (format string, payload).

    Colour is stored in BGR order (format ``<encoding>; jpeg compressed bgr8``), grey as is; PNG keeps 16 bit.
    """
    pixel_format = INPUT_FORMATS[encoding]
    if codec not in ("jpeg", "png"):
        raise ValueError(f"codec must be 'jpeg' or 'png', got '{codec}'")
    stored = pixels[..., 0] if pixel_format.order == "gray" else _to_bgr(pixels, encoding)
    if codec == "jpeg" and stored.dtype == np.uint16:  # baseline JPEG holds 8-bit samples only
        stored = _to_8_bit(stored)
    target = "" if pixel_format.order == "gray" else f"bgr{stored.dtype.itemsize * 8}"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if codec == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, payload = cv2.imencode(".jpg" if codec == "jpeg" else ".png", np.ascontiguousarray(stored), params)
    if not ok:
        raise ValueError(f"OpenCV could not {codec}-encode a {pixels.dtype} {encoding} image of shape {pixels.shape}")
    return f"{encoding}; {codec} compressed {target}", payload.tobytes()


def to_model_channels(pixels: np.ndarray, encoding: str, channels: int) -> np.ndarray:
    """Convert decoded pixels to contiguous uint8 [H, W, channels]: grey models get luminance, RGB models RGB.

    16-bit samples are scaled to 8 bit (round(v / 257), so 65535 -> 255); luminance uses ITU-R BT.601 weights.
    """
    pixel_format = INPUT_FORMATS[encoding]
    if pixels.dtype == np.uint16:
        pixels = _to_8_bit(pixels)
    key = (pixel_format.order, channels)
    if key not in _TO_MODEL_CHANNELS:
        raise ValueError(f"model channel count must be 1 or 3, got {channels}")
    conversion = _TO_MODEL_CHANNELS[key]
    if conversion is None:
        return np.ascontiguousarray(pixels)
    converted = cv2.cvtColor(np.ascontiguousarray(pixels), conversion)
    return converted.reshape(*converted.shape[:2], channels)


def _to_8_bit(pixels: np.ndarray) -> np.ndarray:
    """16-bit samples scaled to uint8 as round(v / 257), so 65535 -> 255 (same shape)."""
    # saturate(round(v / 257)) equals (v + 128) // 257 for every 16-bit v
    return cv2.convertScaleAbs(pixels, alpha=1 / 257).reshape(pixels.shape)


def _to_bgr(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Colour pixels in BGR order at their own bit depth (alpha dropped), as PNG stores them."""
    order = INPUT_FORMATS[encoding].order
    colour = pixels[..., :3]
    return colour[..., ::-1] if order.startswith("rgb") else colour


def _check_size(width: int, height: int, max_pixels: int) -> None:
    """Reject empty images and images above the pixel budget before anything is allocated for them."""
    if height == 0 or width == 0:
        raise ImageFormatError("zero_size", f"image has zero size ({width}x{height})")
    if height * width > max_pixels:
        raise ImageFormatError("too_large", f"image {width}x{height} exceeds max_image_pixels={max_pixels}")


def _jpeg_frame(data: np.ndarray) -> tuple[int, int, bool]:
    """(width, height, is_grey) from a JPEG's start-of-frame header, found by walking the marker segments."""
    payload = data.tobytes() if data.size < 65536 else data[:65536].tobytes()  # headers sit well within 64 KiB
    pos = 2
    while pos + 4 <= len(payload):
        if payload[pos] != 0xFF:
            break
        marker = payload[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker in _JPEG_STANDALONE_MARKERS:
            pos += 2
        elif marker in _JPEG_SOF_MARKERS and pos + 10 <= len(payload):
            height = int.from_bytes(payload[pos + 5 : pos + 7], "big")
            width = int.from_bytes(payload[pos + 7 : pos + 9], "big")
            return width, height, payload[pos + 9] == 1
        elif marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            break
        else:
            pos += 2 + int.from_bytes(payload[pos + 2 : pos + 4], "big")
    raise ImageFormatError("corrupt", f"JPEG payload of {data.size} bytes has no readable frame header")


def _jpeg_decode_flags(width: int, height: int, grey: bool, min_size: int | None) -> int:
    """imdecode flags: the largest DCT reduction keeping both sides >= min_size, grey or colour as stored."""
    channels = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
    if min_size is not None:
        for factor, reduction in _JPEG_REDUCTIONS:  # reduced sizes are ceil(side / factor), as libjpeg scales
            if -(-width // factor) >= min_size and -(-height // factor) >= min_size:
                return reduction | channels
    return channels


def _png_size(head: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, which the format requires to come first."""
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise ImageFormatError("corrupt", "PNG payload has no IHDR header")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
