"""The ROS-free fusion pipeline (fusionvae_ros.pipeline) that the node and ``bag process`` adapt: each view checked
and prepared once (registered image and model input), sets formed and checked, fused sets with their stamp, frame,
geometry and record, noise from the seed parameter and the set's stamp. A stand-in backend records what the
pipeline asks of it; one test runs the real test model."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from ros_helpers import node_test_model
from std_msgs.msg import Header

from fusionvae_core.data.framing import frame_image
from fusionvae_core.image_codec import encode_compressed
from fusionvae_ros.image_codec import encode_image
from fusionvae_ros.noise_seed import set_noise_seed
from fusionvae_ros.params import NodeSettings
from fusionvae_ros.pipeline import FusionPipeline

BASE_NS = 1_700_000_000 * 1_000_000_000
SIZE = 16


@dataclass
class StandInBackend:
    """Answers infer like a backend (constant images) and records the calls."""

    image_size: int = SIZE
    channels: int = 1
    has_visibility: bool = False  # an old model: no visibility head, no compositing
    compositing: bool = False
    calls: list[dict] = field(default_factory=list)

    def infer(self, views: np.ndarray, num_samples: int, seed: int | None, temperature: float | None):
        self.calls.append({"views": views, "num_samples": num_samples, "seed": seed, "temperature": temperature})
        batch, _, height, width, channels = views.shape
        hypotheses = np.full((batch, num_samples, height, width, channels), 7, np.uint8)
        std = np.zeros((batch, height, width))
        return SimpleNamespace(hypotheses=hypotheses, mean=hypotheses[:, 0], std=std, visibility=None)


def image(stamp_ns: int, pixels: np.ndarray, frame_id: str = "") -> object:
    """An Image message of uint8 pixels [H, W, 1|3] stamped ``stamp_ns``."""
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return encode_image(pixels, header)


def gradient(height: int, width: int, channels: int = 3) -> np.ndarray:
    """A smooth uint8 test image."""
    rows, cols = np.mgrid[0:height, 0:width]
    grey = (rows * 255 // max(height - 1, 1) + cols * 3) % 256
    return np.repeat(grey[..., np.newaxis], channels, axis=2).astype(np.uint8)


class Drops(list):
    """Collects (reason, detail) drop reports."""

    def __call__(self, reason: str, detail: str) -> None:
        self.append((reason, detail))

    def reasons(self) -> list[str]:
        return [reason for reason, _ in self]


def make_pipeline(backend=None, **parameters) -> tuple[FusionPipeline, Drops]:
    values = {"camera_topics": ["cam0", "cam1", "cam2"], "max_wait": 0.05, **parameters}
    drops = Drops()
    return FusionPipeline(
        NodeSettings.from_values(values), backend or StandInBackend(), drops, logging.getLogger()
    ), drops


def test_a_view_is_prepared_once_registered_at_decoded_size_and_framed_for_the_model():
    pipeline, _ = make_pipeline(resize_mode="center_crop")
    pixels = gradient(40, 60)
    view = pipeline.prepare(0, image(BASE_NS, pixels, "cam0_optical"), 0, 1.5)
    assert (view.camera, view.stamp_ns, view.frame_id, view.received_s, view.camera_size) == (
        0,
        BASE_NS,
        "cam0_optical",
        1.5,
        (60, 40),
    )
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)[..., np.newaxis]  # the model is grey
    np.testing.assert_array_equal(view.registered, grey)
    np.testing.assert_array_equal(view.model_input, frame_image(grey, SIZE, "center_crop"))


def test_a_jpeg_view_is_registered_at_its_reduced_decode_size():
    pipeline, _ = make_pipeline(
        input_transport="compressed", homography_1=[1.0, 0.0, 8.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    )
    fmt, payload = encode_compressed(gradient(96, 128), "rgb8", "jpeg")
    msg = SimpleNamespace(header=Header(), format=fmt, data=payload)  # duck-typed, as rosbags gives it
    msg.header.stamp.sec = 1
    view = pipeline.prepare(1, msg, 0, 0.0)
    assert view.camera_size == (128, 96)
    assert view.registered.shape == (24, 32, 1), "libjpeg's 1/4 scale: both sides stay >= the model size"
    assert view.registered[:, :2].max() == 0, "shifted 8 camera pixels (2 decoded ones) right: black on the left"


@pytest.mark.parametrize(
    ("offset_s", "reason"),
    [(0.0, None), (0.4, None), (0.6, "stamp_future"), (-4.9, None), (-5.1, "stamp_old")],
)
def test_stamps_are_checked_against_the_adapters_clock(offset_s, reason):
    pipeline, drops = make_pipeline(future_tolerance=0.5, max_age=5.0)
    now_ns = BASE_NS + 10**9
    pipeline.add_view(0, image(now_ns + round(offset_s * 1e9), gradient(8, 8)), now_ns)
    assert drops.reasons() == ([reason] if reason else [])


def test_unusable_messages_are_dropped_with_their_reason_and_no_clock_means_no_stamp_check():
    pipeline, drops = make_pipeline()
    bad_stamp = image(BASE_NS, gradient(8, 8))
    bad_stamp.header.stamp.sec = -1
    short = image(BASE_NS, gradient(8, 8))
    short.data = short.data[:-1]
    for msg in (bad_stamp, short, image(0, gradient(8, 8))):
        assert pipeline.add_view(0, msg, 0) == []
    assert drops.reasons() == ["stamp_invalid", "data_length"]
    assert drops[0][1].startswith("camera 0 (cam0): "), "the detail names the camera and its topic"


def test_complete_sets_are_ready_at_once_and_partial_ones_after_max_wait():
    pipeline, _ = make_pipeline()
    for camera in range(2):
        assert pipeline.add_view(camera, image(BASE_NS + camera, gradient(8, 8)), BASE_NS) == []
    (complete,) = pipeline.add_view(2, image(BASE_NS + 2, gradient(8, 8)), BASE_NS + 1000)
    assert complete.complete and complete.due_ns == BASE_NS + 1000
    pipeline.add_view(1, image(BASE_NS + 10**8, gradient(8, 8)), BASE_NS + 10**8)
    assert pipeline.poll(BASE_NS + 10**8 + 49_000_000) == []
    (partial,) = pipeline.poll(BASE_NS + 10**8 + 60_000_000)
    assert partial.cameras == (1,) and partial.due_ns == BASE_NS + 10**8 + 50_000_000


def test_a_set_of_views_of_different_sizes_is_dropped():
    pipeline, drops = make_pipeline(camera_topics=["cam0", "cam1"])
    pipeline.add_view(0, image(BASE_NS, gradient(8, 8)), 0)
    assert pipeline.add_view(1, image(BASE_NS, gradient(8, 10)), 0) == []
    assert drops.reasons() == ["mismatched_sizes"]


def test_fused_set_carries_stamp_frame_geometry_record_and_the_views():
    backend = StandInBackend()
    pipeline, _ = make_pipeline(backend, camera_topics=["cam0", "cam1"], seed=4, output_size="camera")
    pipeline.add_view(0, image(BASE_NS + 3, gradient(12, 20), "cam0_optical"), 0)
    (view_set,) = pipeline.add_view(1, image(BASE_NS + 5, gradient(12, 20), "cam1_optical"), 0)
    fused = pipeline.fuse(view_set)
    (call,) = backend.calls
    assert call["views"].shape == (1, 2, SIZE, SIZE, 1) and call["temperature"] is None, "-1: the model's own"
    assert call["seed"] == set_noise_seed(4, BASE_NS + 5), "noise from the seed parameter and the set's stamp"
    assert (fused.stamp_ns, fused.frame_id, fused.cameras, fused.camera_size) == (
        BASE_NS + 5,
        "cam1_optical",
        (0, 1),
        (20, 12),
    )
    assert fused.geometry.size == (20, 12) and fused.hypotheses.shape == (3, SIZE, SIZE, 1)
    assert fused.record() == {
        "num_hypotheses": "3",
        "k": "2",
        "cameras": "0,1",
        "stamps": f"{BASE_NS + 3},{BASE_NS + 5}",
        "compositing": "false",
    }
    assert [view.registered.shape for view in fused.views] == [(12, 20, 1)] * 2, "full-resolution views kept"
    pipeline.reference_info = SimpleNamespace(header=Header(frame_id="cam0_info_frame"))
    assert pipeline.fuse(view_set).frame_id == "cam0_info_frame", "the reference camera_info's frame wins"
    pipeline.update({"temperature": 0.5, "num_hypotheses": 2})
    assert pipeline.fuse(view_set).hypotheses.shape[0] == 2 and backend.calls[-1]["temperature"] == 0.5


def test_runtime_updates_reach_the_view_source():
    pipeline, _ = make_pipeline()
    pipeline.update({"slop": 0.2, "max_wait": 1.0})
    assert (pipeline.source.slop_ns, pipeline.source.max_wait_ns) == (200_000_000, 1_000_000_000)


def test_colour_mismatch_is_logged_once_per_camera(caplog):
    pipeline, _ = make_pipeline()
    with caplog.at_level(logging.WARNING):
        for stamp in range(3):
            pipeline.add_view(0, image(BASE_NS + stamp * 10**8, gradient(8, 8)), 0)
    assert list(pipeline.colour_mismatch) == [0] and "colour is dropped" in pipeline.colour_mismatch[0]
    assert sum("colour is dropped" in record.message for record in caplog.records) == 1


def test_the_same_set_fuses_to_the_same_images_with_the_test_model():
    model = node_test_model()
    fused = []
    for _ in range(2):
        pipeline, _ = make_pipeline(model.backend, camera_topics=["cam0"], seed=9)
        (view_set,) = pipeline.add_view(0, image(BASE_NS, gradient(48, 40, 3)), 0)  # one camera: complete at once
        fused.append(pipeline.fuse(view_set))
    np.testing.assert_array_equal(fused[0].hypotheses, fused[1].hypotheses)
    assert fused[0].hypotheses.shape == (3, model.image_size, model.image_size, model.channels)
