"""The one framing of training and serving (fusionvae_core.data.framing): area-averaging down, bilinear up, centre
crop, checked on hand-built images; and the same camera message becomes the very same model input in the training
loader (rosbag dataset, evaluation mode) and in the node's pipeline, for every resize mode the node serves, for
down- and up-scaling, raw and JPEG."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from camera_bags import START_NS, smooth_frames, write_camera_bag

from fusionvae_core.data import build_dataset
from fusionvae_core.data.framing import FIXED_MODES, center_square, frame_image
from fusionvae_ros.bag.bag_files import InputBag
from fusionvae_ros.params import NodeSettings
from fusionvae_ros.pipeline import FusionPipeline


def block_image(blocks: np.ndarray, factor: int) -> np.ndarray:
    """Each value of ``blocks`` [h, w, C] blown up to a factor x factor block."""
    return np.repeat(np.repeat(blocks, factor, axis=0), factor, axis=1)


@pytest.mark.parametrize("channels", [1, 3])
def test_downscaling_by_an_integer_factor_averages_blocks(channels):
    blocks = np.random.default_rng(1).integers(0, 256, (4, 4, channels), dtype=np.uint8)
    image = block_image(blocks, 4).astype(np.int32)
    image[::2, ::2] += 2  # within each 4x4 block: 4 of 16 pixels 2 brighter -> block mean +0.5
    image = np.clip(image, 0, 255).astype(np.uint8)
    fitted = frame_image(image, 4)
    assert fitted.shape == (4, 4, channels) and fitted.dtype == np.uint8
    expected = block_image(blocks, 4).astype(float)
    expected[::2, ::2] = np.minimum(expected[::2, ::2] + 2, 255)
    block_means = expected.reshape(4, 4, 4, 4, channels).mean(axis=(1, 3))
    assert np.abs(fitted - block_means).max() <= 1


def test_upscaling_interpolates_bilinearly():
    image = np.random.default_rng(3).integers(0, 256, (5, 7, 1), dtype=np.uint8)
    expected = cv2.resize(image, (16, 16), interpolation=cv2.INTER_LINEAR)[..., np.newaxis]
    np.testing.assert_array_equal(frame_image(image, 16), expected)


def test_resize_squeezes_the_whole_view_while_center_crop_keeps_the_middle():
    image = np.zeros((40, 80, 1), np.uint8)
    image[:, :20] = 255  # a white stripe on the left quarter
    squeezed = frame_image(image, 20, "resize")
    cropped = frame_image(image, 20, "center_crop")
    assert squeezed[:, :5].min() == 255 and squeezed[:, 5:].max() == 0
    assert cropped.max() == 0  # the centre 40x40 square (columns 20..59) has no stripe


def test_center_square_is_the_middle_of_the_long_side():
    image = np.arange(4 * 6).reshape(4, 6, 1)
    np.testing.assert_array_equal(center_square(image), image[:, 1:5])
    np.testing.assert_array_equal(center_square(image.transpose(1, 0, 2)), image.transpose(1, 0, 2)[1:5])


def test_model_sized_input_passes_through_unchanged():
    image = np.random.default_rng(2).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(frame_image(image, 8, "center_crop"), image)


def test_random_crop_is_the_centre_crop_in_evaluation_and_a_random_square_in_training():
    image = np.random.default_rng(4).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    np.testing.assert_array_equal(frame_image(image, 10, "random_crop"), frame_image(image, 10, "center_crop"))
    crops = {frame_image(image, 10, "random_crop", np.random.default_rng(seed)).tobytes() for seed in range(5)}
    assert len(crops) > 1


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="resize mode"):
        frame_image(np.zeros((4, 4, 1), np.uint8), 2, "stretch")


MODEL_SIZE = 32
PERIOD_NS = 1_000_000_000  # one frame per second: the split hashes seconds, so frames spread over the splits
CAMERAS = {  # topic -> (kind, height, width): a camera larger and one smaller than the model, raw and JPEG
    "/large/image_raw": ("bgr8", 96, 128),
    "/large/image_raw/compressed": ("jpeg", 96, 128),
    "/small/image_raw": ("rgb8", 18, 26),
}


@pytest.fixture(scope="module")
def camera_bag(tmp_path_factory):
    streams = {
        topic: (kind, smooth_frames(12, height, width, seed=len(topic)))
        for topic, (kind, height, width) in CAMERAS.items()
    }
    return write_camera_bag(tmp_path_factory.mktemp("framing") / "cameras", streams, period_ns=PERIOD_NS)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("mode", FIXED_MODES)
@pytest.mark.parametrize("topic", list(CAMERAS))
def test_training_loader_and_node_pipeline_give_the_same_model_input(camera_bag, tmp_path, topic, mode, channels):
    options = {"image_size": MODEL_SIZE, "channels": channels, "resize": mode, "topics": [topic], "occlusion": "none"}
    dataset = build_dataset(
        "rosbag", "val", camera_bag, seed=0, cache_dir=str(tmp_path), val_fraction=0.5, test_fraction=0.0, **options
    )
    transport = "compressed" if topic.endswith("/compressed") else "raw"
    base_topic = topic.removesuffix("/compressed")
    settings = NodeSettings.from_values(
        {"camera_topics": [base_topic], "input_transport": transport, "resize_mode": mode}
    )
    # preparing views needs no weights (and, without a visibility head, decodes at the model's scale as before)
    model = SimpleNamespace(image_size=MODEL_SIZE, channels=channels, has_visibility=False, compositing=False)
    pipeline = FusionPipeline(settings, model, lambda reason, detail: pytest.fail(detail), logging.getLogger())
    with InputBag(camera_bag) as bag:
        messages = {message.log_time_ns: bag.decode(message) for message in bag.messages([topic])}
    assert len(dataset) >= 3
    for index, frame in enumerate(dataset.source.frames):
        served = pipeline.prepare(0, messages[frame.log_time_ns], 0, 0.0).model_input
        trained = np.rint(dataset[index].target.numpy() * 255).astype(np.uint8).transpose(1, 2, 0)
        assert served.shape == (MODEL_SIZE, MODEL_SIZE, channels)
        np.testing.assert_array_equal(served, trained, err_msg=f"frame {(frame.log_time_ns - START_NS) // PERIOD_NS}")
