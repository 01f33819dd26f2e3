"""The output messages of a fused set, built once for both adapters: the live node publishes them (``FusedOutputs``),
``bag process`` serialises them into a bag.

Per set: fused/set_info (diagnostic_msgs/DiagnosticArray: the set's header, key ``num_hypotheses``, ``k``, the set's
``cameras`` and its views' ``stamps``: with view_source temporal, which frames were fused), then its hypotheses on
fused/hypotheses (back to back) and each on fused/hypothesis_<i>, then fused/mean, fused/uncertainty (32FC1) and, once
the reference camera's calibration is known, fused/camera_info. Images are at the set's output geometry (output_size
model|camera, see output_geometry). The topic names a hypothesis's index and set_info the set's size, so a consumer
knows which hypothesis it holds and which is missing even when one is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from fusionvae_ros.image_codec import encode_image
from fusionvae_ros.output_geometry import moved_calibration, resize_output
from fusionvae_ros.params import MAX_NUM_HYPOTHESES

if TYPE_CHECKING:
    from fusionvae_ros.pipeline import FusedSet

PublisherFactory = Callable[[type, str, int], Any]
SET_INFO_TOPIC = "fused/set_info"
HYPOTHESES_TOPIC = "fused/hypotheses"
MEAN_TOPIC = "fused/mean"
UNCERTAINTY_TOPIC = "fused/uncertainty"
CAMERA_INFO_TOPIC = "fused/camera_info"
#: Every output topic of a set (relative names: a namespace applies) and its message type, in publishing order.
OUTPUT_TYPES: dict[str, type] = {
    SET_INFO_TOPIC: DiagnosticArray,
    HYPOTHESES_TOPIC: Image,
    MEAN_TOPIC: Image,
    UNCERTAINTY_TOPIC: Image,
    CAMERA_INFO_TOPIC: CameraInfo,
}


def hypothesis_topic(index: int) -> str:
    """The topic that carries hypothesis ``index`` (0-based) of every set."""
    return f"fused/hypothesis_{index}"


@dataclass(frozen=True)
class OutputMessages:
    """The messages of one fused set."""

    set_info: DiagnosticArray
    hypotheses: list[Image]
    mean: Image
    uncertainty: Image
    camera_info: CameraInfo | None

    def by_topic(self) -> Iterator[tuple[str, Any]]:
        """(topic, message) in publishing order; the per-index topics repeat fused/hypotheses and are left out."""
        yield SET_INFO_TOPIC, self.set_info
        for image in self.hypotheses:
            yield HYPOTHESES_TOPIC, image
        yield MEAN_TOPIC, self.mean
        yield UNCERTAINTY_TOPIC, self.uncertainty
        if self.camera_info is not None:
            yield CAMERA_INFO_TOPIC, self.camera_info


def output_messages(fused: FusedSet) -> OutputMessages:
    """The messages of ``fused``: all stamped with its newest view stamp, in its frame, at its output size."""
    sec, nanosec = divmod(fused.stamp_ns, 1_000_000_000)
    header = Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=fused.frame_id)
    size, info = fused.geometry.size, fused.reference_info
    return OutputMessages(
        set_info=set_info(header, fused.record()),
        hypotheses=[encode_image(resize_output(hypothesis, size), header) for hypothesis in fused.hypotheses],
        mean=encode_image(resize_output(fused.mean, size), header),
        uncertainty=encode_image(resize_output(fused.uncertainty, size), header),
        camera_info=None if info is None else output_camera_info(info, fused, header),
    )


def set_info(header: Header, record: dict[str, str]) -> DiagnosticArray:
    """The fused/set_info message of one set: its header and record (hypotheses, K, cameras, view stamps)."""
    status = DiagnosticStatus(
        level=DiagnosticStatus.OK,
        name="fused set",
        message=f"{record['num_hypotheses']} hypotheses from cameras {record['cameras']}",
        values=[KeyValue(key=key, value=value) for key, value in record.items()],
    )
    return DiagnosticArray(header=header, status=[status])


def output_camera_info(info: Any, fused: FusedSet, header: Header) -> CameraInfo:
    """The reference camera's CameraInfo ``info`` moved into the pixels of ``fused``'s outputs (distortion as is)."""
    k, p = moved_calibration(info, fused.camera_size, fused.geometry)
    return CameraInfo(
        header=header,
        width=fused.geometry.size[0],
        height=fused.geometry.size[1],
        distortion_model=info.distortion_model,
        d=list(info.d),
        k=k.ravel().tolist(),
        r=list(info.r),
        p=p.ravel().tolist(),
    )


class FusedOutputs:
    """The node's output publishers; ``publish`` sends one set's messages.

    ``create_publisher`` is the node's (lifecycle) publisher factory; fused/hypotheses holds a whole set per
    ``queue_size`` slot.
    """

    def __init__(self, create_publisher: PublisherFactory, queue_size: int, num_hypotheses: int) -> None:
        self._create_publisher = create_publisher
        self._queue_size = queue_size
        self._publishers = {
            topic: create_publisher(
                msg_type, topic, queue_size * (MAX_NUM_HYPOTHESES if topic == HYPOTHESES_TOPIC else 1)
            )
            for topic, msg_type in OUTPUT_TYPES.items()
        }
        self._indexed: list[Any] = []  # fused/hypothesis_<i> publishers, one per hypothesis index used so far
        self.ensure_indexed_topics(num_hypotheses)

    def publishers(self) -> list[Any]:
        """Every publisher made here (for cleanup)."""
        return [*self._publishers.values(), *self._indexed]

    def ensure_indexed_topics(self, num_hypotheses: int) -> None:
        """Create the fused/hypothesis_<i> publishers up to ``num_hypotheses`` (call from the executor thread)."""
        while len(self._indexed) < num_hypotheses:
            self._indexed.append(self._create_publisher(Image, hypothesis_topic(len(self._indexed)), self._queue_size))

    def publish(self, messages: OutputMessages) -> None:
        """Publish one set's messages in order; hypothesis i also on fused/hypothesis_<i>."""
        index = 0
        for topic, msg in messages.by_topic():
            self._publishers[topic].publish(msg)
            if topic == HYPOTHESES_TOPIC:
                self._indexed[index].publish(msg)
                index += 1
