"""sensor_msgs/Image <-> numpy: every supported encoding, both endiannesses and padded rows, checked against
arrays built by hand; malformed messages raise ImageFormatError with the reason the node counts."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from fusionvae_ros.image_codec import ImageFormatError, decode_image, encode_image, to_model_channels

H, W = 5, 7
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
ALPHA = RNG.integers(0, 256, (H, W, 1), dtype=np.uint8)
GREY = RNG.integers(0, 256, (H, W, 1), dtype=np.uint8)
GREY16 = RNG.integers(0, 65536, (H, W, 1), dtype=np.uint16)
PAD = b"\xab" * 6  # padding bytes at the end of each row (even, so 16-bit rows stay aligned)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, the grey level a grey model should see."""
    weights = np.array([0.299, 0.587, 0.114])
    return np.rint(rgb.astype(np.float64) @ weights)[..., np.newaxis]


def make_msg(pixels: np.ndarray, encoding: str, *, big_endian: bool = False, padded: bool = False) -> Image:
    """An Image with the rows of ``pixels`` serialised by hand (optionally padded, optionally big-endian)."""
    wire = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = [wire[row].tobytes() + (PAD if padded else b"") for row in range(pixels.shape[0])]
    return Image(
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=int(big_endian),
        step=len(rows[0]),
        data=b"".join(rows),
    )


COLOUR_CASES = {
    "rgb8": RGB,
    "bgr8": RGB[..., ::-1],
    "rgba8": np.concatenate([RGB, ALPHA], axis=2),
    "bgra8": np.concatenate([RGB[..., ::-1], ALPHA], axis=2),
}


@pytest.mark.parametrize("padded", [False, True], ids=["packed", "padded"])
@pytest.mark.parametrize("encoding", list(COLOUR_CASES))
def test_colour_encodings_give_rgb_and_luminance(encoding, padded):
    wire_pixels = COLOUR_CASES[encoding]
    msg = make_msg(wire_pixels, encoding, padded=padded)
    decoded = decode_image(msg, max_pixels=H * W)
    np.testing.assert_array_equal(decoded, wire_pixels)
    np.testing.assert_array_equal(to_model_channels(decoded, encoding, 3), RGB)
    grey = to_model_channels(decoded, encoding, 1)
    assert grey.shape == (H, W, 1) and grey.dtype == np.uint8
    assert np.abs(grey.astype(int) - luminance(RGB)).max() <= 1


@pytest.mark.parametrize("padded", [False, True], ids=["packed", "padded"])
@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono8_gives_grey_and_replicated_rgb(encoding, padded):
    decoded = decode_image(make_msg(GREY, encoding, padded=padded), max_pixels=H * W)
    np.testing.assert_array_equal(to_model_channels(decoded, encoding, 1), GREY)
    np.testing.assert_array_equal(to_model_channels(decoded, encoding, 3), np.repeat(GREY, 3, axis=2))


@pytest.mark.parametrize("padded", [False, True], ids=["packed", "padded"])
@pytest.mark.parametrize("big_endian", [False, True], ids=["little", "big"])
@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_mono16_both_endiannesses_scaled_to_8_bit(encoding, big_endian, padded):
    msg = make_msg(GREY16, encoding, big_endian=big_endian, padded=padded)
    decoded = decode_image(msg, max_pixels=H * W)
    assert decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, GREY16)
    expected = np.rint(GREY16 / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(to_model_channels(decoded, encoding, 1), expected)
    np.testing.assert_array_equal(to_model_channels(decoded, encoding, 3), np.repeat(expected, 3, axis=2))


def test_mono16_extremes_map_to_0_and_255():
    extremes = np.array([[[0], [65535]]], dtype=np.uint16)
    decoded = decode_image(make_msg(extremes, "mono16", big_endian=True), max_pixels=2)
    assert to_model_channels(decoded, "mono16", 1).ravel().tolist() == [0, 255]


def test_8_bit_decoding_does_not_copy_the_message_buffer():
    msg = make_msg(RGB, "rgb8", padded=True)
    assert np.shares_memory(decode_image(msg, max_pixels=H * W), np.frombuffer(msg.data, np.uint8))


def good_rgb() -> Image:
    return make_msg(RGB, "rgb8")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"encoding": "yuv422"}, "encoding"),
        ({"encoding": ""}, "encoding"),
        ({"height": 0, "data": b""}, "zero_size"),
        ({"width": 0}, "zero_size"),
        ({"data": RGB.tobytes()[:-1]}, "data_length"),
        ({"data": RGB.tobytes() + b"\0"}, "data_length"),
        ({"step": W * 3 - 1}, "step"),
        ({"step": W * 3 + 3}, "data_length"),
        ({"height": 1000, "width": 1000}, "too_large"),
    ],
)
def test_malformed_messages_raise_with_reason(change, reason):
    msg = good_rgb()
    for field, value in change.items():
        setattr(msg, field, value)
    with pytest.raises(ImageFormatError) as caught:
        decode_image(msg, max_pixels=10_000)
    assert caught.value.reason == reason
    assert str(caught.value)


def test_16_bit_step_must_hold_whole_samples():
    msg = make_msg(GREY16, "mono16")
    msg.step, msg.data = W * 2 + 1, b"\0" * ((W * 2 + 1) * H)
    with pytest.raises(ImageFormatError) as caught:
        decode_image(msg, max_pixels=H * W)
    assert caught.value.reason == "step"


def test_unsupported_model_channel_count_is_rejected():
    with pytest.raises(ValueError, match="channel count"):
        to_model_channels(RGB, "rgb8", 4)


@pytest.mark.parametrize(("pixels", "encoding"), [(GREY, "mono8"), (RGB, "rgb8")])
def test_encode_uint8_round_trips_through_decode(pixels, encoding):
    header = Header(frame_id="cam")
    msg = encode_image(pixels, header)
    assert (msg.encoding, msg.height, msg.width, msg.step) == (encoding, H, W, W * pixels.shape[2])
    assert msg.header.frame_id == "cam"
    np.testing.assert_array_equal(decode_image(msg, max_pixels=H * W), pixels)


def test_encode_float_std_as_32fc1_in_host_byte_order():
    std = RNG.random((H, W), dtype=np.float32)
    msg = encode_image(std, Header())
    assert (msg.encoding, msg.step, msg.is_bigendian) == ("32FC1", W * 4, int(sys.byteorder == "big"))
    np.testing.assert_array_equal(np.frombuffer(msg.data, np.float32).reshape(H, W), std)


def test_encode_non_contiguous_input_is_packed():
    msg = encode_image(RGB[:, ::2], Header())
    np.testing.assert_array_equal(decode_image(msg, max_pixels=H * W), RGB[:, ::2])


@pytest.mark.parametrize("bad", [np.zeros((H, W, 2), np.uint8), np.zeros((H, W), np.float64), np.zeros((H, W, 3))])
def test_encode_rejects_unsupported_arrays(bad):
    with pytest.raises(ValueError, match="cannot encode"):
        encode_image(bad, Header())
