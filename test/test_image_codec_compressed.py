"""sensor_msgs/CompressedImage -> numpy: the format strings image_transport's compressed plugin writes, lossless PNG
round trips (8 and 16 bit), JPEG within its quantisation error, libjpeg reduced-scale decode sizes, and corrupt or
unsupported payloads raising ImageFormatError with the reason the node counts. Messages are rclpy's and rosbags'
(the node and the bag tools/dataset read both)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CompressedImage

from fusionvae_core.image_codec import (
    ImageFormatError,
    decode_compressed,
    encode_compressed,
    parse_compressed_format,
    to_model_channels,
)

H, W = 480, 640
MAX_PIXELS = H * W
TYPES = get_typestore(Stores.ROS2_KILTED).types


def smooth_rgb(height: int = H, width: int = W) -> np.ndarray:
    """A camera-like RGB image (smooth gradients and a few edges) so JPEG's error stays small and measurable."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    red = 128 + 100 * np.sin(cols / 47.0)
    green = 128 + 100 * np.cos(rows / 31.0)
    blue = np.where((rows // 60 + cols // 80) % 2 == 0, 60.0, 190.0)
    return np.clip(np.stack([red, green, blue], axis=2), 0, 255).astype(np.uint8)


RGB = smooth_rgb()
GREY = to_model_channels(RGB, "rgb8", 1)
RNG = np.random.default_rng(0)
NOISE_RGB = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)  # odd sizes: lossless codecs must keep every pixel
NOISE_GREY16 = RNG.integers(0, 65536, (37, 53, 1), dtype=np.uint16)
NOISE_RGB16 = RNG.integers(0, 65536, (37, 53, 3), dtype=np.uint16)


def rclpy_msg(fmt: str, payload: bytes) -> CompressedImage:
    return CompressedImage(format=fmt, data=payload)


def rosbags_msg(fmt: str, payload: bytes):
    header = TYPES["std_msgs/msg/Header"](stamp=TYPES["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id="")
    return TYPES["sensor_msgs/msg/CompressedImage"](header=header, format=fmt, data=np.frombuffer(payload, np.uint8))


MESSAGE_KINDS = {"rclpy": rclpy_msg, "rosbags": rosbags_msg}


@pytest.mark.parametrize("kind", list(MESSAGE_KINDS))
@pytest.mark.parametrize("source", ["rgb8", "bgr8"])
def test_colour_jpeg_as_the_compressed_plugin_writes_it(kind, source):
    pixels = RGB if source == "rgb8" else RGB[..., ::-1]
    fmt, payload = encode_compressed(pixels, source, "jpeg", quality=95)
    assert fmt == f"{source}; jpeg compressed bgr8"
    decoded, encoding = decode_compressed(MESSAGE_KINDS[kind](fmt, payload), MAX_PIXELS)
    assert encoding == "bgr8" and decoded.shape == (H, W, 3) and decoded.dtype == np.uint8
    error = np.abs(to_model_channels(decoded, encoding, 3).astype(int) - RGB)
    assert error.mean() < 2  # measured 1.14 at quality 95 (chroma subsampling at the edges); swapped R/B: > 40


def test_mono_jpeg_keeps_one_channel():
    fmt, payload = encode_compressed(GREY, "mono8", "jpeg")
    assert fmt == "mono8; jpeg compressed "  # the plugin names no target format for grey
    decoded, encoding = decode_compressed(rclpy_msg(fmt, payload), MAX_PIXELS)
    assert encoding == "mono8" and decoded.shape == (H, W, 1)
    assert np.abs(decoded.astype(int) - GREY).mean() < 1.5


@pytest.mark.parametrize("kind", list(MESSAGE_KINDS))
@pytest.mark.parametrize(
    ("pixels", "source", "expected_format", "expected_encoding"),
    [
        (NOISE_RGB, "rgb8", "rgb8; png compressed bgr8", "bgr8"),
        (NOISE_RGB[..., ::-1], "bgr8", "bgr8; png compressed bgr8", "bgr8"),
        (NOISE_GREY16, "mono16", "mono16; png compressed ", "mono16"),
        (NOISE_RGB16, "rgb16", "rgb16; png compressed bgr16", "bgr16"),
    ],
    ids=["rgb8", "bgr8", "mono16", "rgb16"],
)
def test_png_round_trips_exactly(kind, pixels, source, expected_format, expected_encoding):
    fmt, payload = encode_compressed(pixels, source, "png")
    assert fmt == expected_format
    decoded, encoding = decode_compressed(MESSAGE_KINDS[kind](fmt, payload), MAX_PIXELS)
    assert encoding == expected_encoding and decoded.dtype == pixels.dtype
    as_rgb = NOISE_RGB16 if source == "rgb16" else NOISE_RGB
    expected = pixels if source == "mono16" else as_rgb[..., ::-1]
    np.testing.assert_array_equal(decoded, expected)


def test_png_alpha_is_dropped_like_the_plugin_does():
    rgba = np.concatenate([NOISE_RGB, NOISE_GREY16[..., :1].astype(np.uint8)], axis=2)
    decoded, encoding = decode_compressed(rclpy_msg(*encode_compressed(rgba, "rgba8", "png")), MAX_PIXELS)
    assert encoding == "bgr8"
    np.testing.assert_array_equal(to_model_channels(decoded, encoding, 3), NOISE_RGB)


def test_format_naming_rgb_payload_order_is_honoured():
    # A publisher that hands RGB bytes to the encoder unchanged and says so: "rgb8; png compressed rgb8".
    payload = cv2.imencode(".png", NOISE_RGB)[1].tobytes()
    decoded, encoding = decode_compressed(rclpy_msg("rgb8; png compressed rgb8", payload), MAX_PIXELS)
    assert encoding == "rgb8"
    np.testing.assert_array_equal(to_model_channels(decoded, encoding, 3), NOISE_RGB)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "JPEG", ""])
def test_plain_formats_decode_by_payload(fmt):
    payload = cv2.imencode(".png", NOISE_RGB[..., ::-1])[1].tobytes()
    decoded, encoding = decode_compressed(rclpy_msg(fmt, payload), MAX_PIXELS)
    assert encoding == "bgr8"
    np.testing.assert_array_equal(to_model_channels(decoded, encoding, 3), NOISE_RGB)


@pytest.mark.parametrize(
    ("size", "min_size", "expected"),
    [
        ((480, 640), None, (480, 640)),
        ((480, 640), 480, (480, 640)),  # 1/2 would give 240 rows < 480
        ((480, 640), 240, (240, 320)),
        ((480, 640), 64, (120, 160)),  # 1/8 would give 60 rows < 64
        ((480, 640), 60, (60, 80)),
        ((481, 641), 61, (61, 81)),  # libjpeg rounds reduced sizes up
        ((720, 1280), 64, (90, 160)),
    ],
)
def test_reduced_scale_jpeg_decode_sizes(size, min_size, expected):
    image = smooth_rgb(*size)
    decoded, _ = decode_compressed(rclpy_msg(*encode_compressed(image, "rgb8", "jpeg")), size[0] * size[1], min_size)
    assert decoded.shape == (*expected, 3)
    if expected != size and size[0] % expected[0] == 0:  # exact factor: the DCT-scaled image ~ an area resize
        reference = cv2.resize(image, expected[::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(to_model_channels(decoded, "bgr8", 3).astype(int) - reference).mean() < 4


def test_reduced_scale_grey_jpeg_stays_grey_and_png_ignores_min_size():
    grey, encoding = decode_compressed(rclpy_msg(*encode_compressed(GREY, "mono8", "jpeg")), MAX_PIXELS, 64)
    assert (grey.shape, encoding) == ((120, 160, 1), "mono8")
    png, _ = decode_compressed(rclpy_msg(*encode_compressed(RGB, "rgb8", "png")), MAX_PIXELS, 64)
    assert png.shape == (H, W, 3)


JPEG_FORMAT, JPEG = encode_compressed(RGB, "rgb8", "jpeg")
PNG_FORMAT, PNG = encode_compressed(NOISE_RGB, "rgb8", "png")


@pytest.mark.parametrize(
    ("fmt", "payload", "reason"),
    [
        (JPEG_FORMAT, b"", "corrupt"),
        (JPEG_FORMAT, RNG.integers(0, 256, 5000, dtype=np.uint8).tobytes(), "corrupt"),
        (JPEG_FORMAT, JPEG[: len(JPEG) // 2], "corrupt"),  # truncated in the entropy-coded data
        (JPEG_FORMAT, JPEG[:200], "corrupt"),  # headers only, no image data
        (JPEG_FORMAT, b"\xff\xd8\xff\xe0" + b"\x00" * 60, "corrupt"),  # no frame header
        (PNG_FORMAT, PNG[: len(PNG) // 2], "corrupt"),
        (PNG_FORMAT, PNG[:8] + b"\x00" * 40, "corrupt"),  # signature without IHDR
        ("16UC1; compressedDepth png", PNG, "format"),
        ("bgr8; theora", JPEG, "format"),
        ("h264", JPEG, "format"),
    ],
    ids=[
        "empty",
        "random",
        "truncated_jpeg",
        "jpeg_headers_only",
        "jpeg_no_frame",
        "truncated_png",
        "png_no_ihdr",
        "compressed_depth",
        "theora",
        "h264",
    ],
)
def test_corrupt_or_unsupported_payloads_raise_with_reason(fmt, payload, reason):
    with pytest.raises(ImageFormatError) as caught:
        decode_compressed(rclpy_msg(fmt, payload), MAX_PIXELS)
    assert caught.value.reason == reason
    assert str(caught.value) and "\n" not in str(caught.value)


def test_oversized_payload_is_rejected_from_its_header():
    with pytest.raises(ImageFormatError) as caught:
        decode_compressed(rclpy_msg(JPEG_FORMAT, JPEG), max_pixels=H * W - 1)
    assert caught.value.reason == "too_large"
    with pytest.raises(ImageFormatError) as caught:
        decode_compressed(rclpy_msg(PNG_FORMAT, PNG), max_pixels=100)
    assert caught.value.reason == "too_large"


def test_format_strings_parse_into_source_encoding_and_payload_order():
    assert parse_compressed_format("rgb8; jpeg compressed bgr8") == parse_compressed_format("rgb8;jpeg compressed")
    assert parse_compressed_format("rgb8; png compressed rgb8").payload_order == "rgb"
    assert parse_compressed_format("mono8; jpeg compressed ").source_encoding == "mono8"
    assert parse_compressed_format("png").source_encoding == ""


def test_encode_rejects_unknown_codec():
    with pytest.raises(ValueError, match="codec"):
        encode_compressed(RGB, "rgb8", "webp")
