"""numpy -> sensor_msgs/Image for the node's outputs; decoding lives in fusionvae_core.image_codec (ROS-free).

Encoding copies the array once into Image.data with ``array.frombytes`` (assigning a sequence instead makes
rosidl check and convert every byte: orders slower). The decoding names are re-exported so node and bag code
import one module.
"""

from __future__ import annotations

import sys

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from fusionvae_core.image_codec import (
    INPUT_FORMATS,
    ImageFormatError,
    PixelFormat,
    decode_compressed,
    decode_image,
    encode_compressed,
    to_model_channels,
)

__all__ = [
    "INPUT_FORMATS",
    "ImageFormatError",
    "PixelFormat",
    "decode_compressed",
    "decode_image",
    "encode_compressed",
    "encode_image",
    "to_model_channels",
]


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
