"""The node's output topics: fused/set_info, fused/hypotheses, fused/hypothesis_<i>, fused/mean,
fused/uncertainty and fused/camera_info.

One ``FusedOutputs`` owns the publishers and publishes a fused set in the configured geometry (output_size
model|camera, see output_geometry); camera_info goes out with every set once the reference camera's calibration
is known. ``create_publisher`` is the node's (a lifecycle node passes its lifecycle publisher factory).

Identifiable hypotheses: every set first gets a fused/set_info message (diagnostic_msgs/DiagnosticArray, the
set's header, key ``num_hypotheses`` and the set's cameras), then hypothesis i goes to fused/hypotheses (all of
a set back to back, as before) and to fused/hypothesis_<i>. The topic names a message's index and set_info the
set's size, so a consumer knows which hypothesis it holds and which is missing even when one is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from fusionvae_ros.fusion import FusedImages
from fusionvae_ros.image_codec import encode_image
from fusionvae_ros.output_geometry import OutputGeometry, output_camera_info, resize_output
from fusionvae_ros.params import MAX_NUM_HYPOTHESES

PublisherFactory = Callable[[type, str, int], Any]
SET_INFO_TOPIC = "fused/set_info"


def hypothesis_topic(index: int) -> str:
    """The topic that carries hypothesis ``index`` (0-based) of every set."""
    return f"fused/hypothesis_{index}"


class FusedOutputs:
    """Publishers of the fused images and their camera_info; ``publish`` sends one set."""

    def __init__(self, create_publisher: PublisherFactory, queue_size: int, num_hypotheses: int) -> None:
        self._create_publisher = create_publisher
        self._queue_size = queue_size
        self._set_info = create_publisher(DiagnosticArray, SET_INFO_TOPIC, queue_size)
        self._indexed: list[Any] = []  # fused/hypothesis_<i> publishers, one per hypothesis index used so far
        self.ensure_indexed_topics(num_hypotheses)
        self._hypotheses = create_publisher(Image, "fused/hypotheses", queue_size * MAX_NUM_HYPOTHESES)
        self._mean = create_publisher(Image, "fused/mean", queue_size)
        self._uncertainty = create_publisher(Image, "fused/uncertainty", queue_size)
        self._camera_info = create_publisher(CameraInfo, "fused/camera_info", queue_size)

    def publishers(self) -> list[Any]:
        """Every publisher made here (for a managed node's cleanup)."""
        return [self._set_info, *self._indexed, self._hypotheses, self._mean, self._uncertainty, self._camera_info]

    def ensure_indexed_topics(self, num_hypotheses: int) -> None:
        """Create the fused/hypothesis_<i> publishers up to ``num_hypotheses`` (call from the executor thread)."""
        while len(self._indexed) < num_hypotheses:
            self._indexed.append(self._create_publisher(Image, hypothesis_topic(len(self._indexed)), self._queue_size))

    def publish(
        self,
        fused: FusedImages,
        header: Header,
        geometry: OutputGeometry,
        reference: tuple[CameraInfo, tuple[int, int]] | None,
        cameras: tuple[int, ...],
    ) -> None:
        """Publish a set's set_info, hypotheses (back to back, and each on its index topic), mean, uncertainty and,
        given the reference camera's (CameraInfo, image size), the outputs' camera_info; images at geometry.size."""
        self._set_info.publish(set_info(header, len(fused.hypotheses), cameras))
        for index, hypothesis in enumerate(fused.hypotheses):
            image = encode_image(resize_output(hypothesis, geometry.size), header)
            self._hypotheses.publish(image)
            self._indexed[index].publish(image)
        self._mean.publish(encode_image(resize_output(fused.mean, geometry.size), header))
        self._uncertainty.publish(encode_image(resize_output(fused.std, geometry.size), header))
        if reference is not None:
            info, camera_size = reference
            self._camera_info.publish(output_camera_info(info, camera_size, geometry, header))


def set_info(header: Header, num_hypotheses: int, cameras: tuple[int, ...]) -> DiagnosticArray:
    """The fused/set_info message of one set: its header, how many hypotheses it has, which cameras it fused."""
    values = {"num_hypotheses": num_hypotheses, "k": len(cameras), "cameras": ",".join(map(str, cameras))}
    status = DiagnosticStatus(
        level=DiagnosticStatus.OK,
        name="fused set",
        message=f"{num_hypotheses} hypotheses from cameras {values['cameras']}",
        values=[KeyValue(key=key, value=str(value)) for key, value in values.items()],
    )
    return DiagnosticArray(header=header, status=[status])
