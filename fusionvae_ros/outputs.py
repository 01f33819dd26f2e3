"""The node's output topics: fused/hypotheses, fused/mean, fused/uncertainty and fused/camera_info.

One ``FusedOutputs`` owns the publishers and publishes a fused set in the configured geometry (output_size
model|camera, see output_geometry); camera_info goes out with every set once the reference camera's calibration
is known. ``create_publisher`` is the node's (a lifecycle node passes its lifecycle publisher factory).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from fusionvae_ros.fusion import FusedImages
from fusionvae_ros.image_codec import encode_image
from fusionvae_ros.output_geometry import OutputGeometry, output_camera_info, resize_output
from fusionvae_ros.params import MAX_NUM_HYPOTHESES

PublisherFactory = Callable[[type, str, int], Any]


class FusedOutputs:
    """Publishers of the fused images and their camera_info; ``publish`` sends one set."""

    def __init__(self, create_publisher: PublisherFactory, queue_size: int) -> None:
        self._hypotheses = create_publisher(Image, "fused/hypotheses", queue_size * MAX_NUM_HYPOTHESES)
        self._mean = create_publisher(Image, "fused/mean", queue_size)
        self._uncertainty = create_publisher(Image, "fused/uncertainty", queue_size)
        self._camera_info = create_publisher(CameraInfo, "fused/camera_info", queue_size)

    def publish(
        self,
        fused: FusedImages,
        header: Header,
        geometry: OutputGeometry,
        reference: tuple[CameraInfo, tuple[int, int]] | None,
    ) -> None:
        """Publish a set's hypotheses (back to back), mean, uncertainty and, given the reference camera's
        (CameraInfo, image size), the camera_info of the outputs - all resized to ``geometry.size``."""
        for hypothesis in fused.hypotheses:
            self._hypotheses.publish(encode_image(resize_output(hypothesis, geometry.size), header))
        self._mean.publish(encode_image(resize_output(fused.mean, geometry.size), header))
        self._uncertainty.publish(encode_image(resize_output(fused.std, geometry.size), header))
        if reference is not None:
            info, camera_size = reference
            self._camera_info.publish(output_camera_info(info, camera_size, geometry, header))
