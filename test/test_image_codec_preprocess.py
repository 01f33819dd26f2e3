"""Fitting camera views to the model: area-averaging resize and centre crop, checked on hand-built images."""

from __future__ import annotations

import numpy as np
import pytest

from fusionvae_ros.preprocess import center_square, fit_to_model, stack_views


def block_image(blocks: np.ndarray, factor: int) -> np.ndarray:
    """Each value of ``blocks`` [h, w, C] blown up to a factor x factor block."""
    return np.repeat(np.repeat(blocks, factor, axis=0), factor, axis=1)


@pytest.mark.parametrize("channels", [1, 3])
def test_resize_by_integer_factor_averages_blocks(channels):
    blocks = np.random.default_rng(1).integers(0, 256, (4, 4, channels), dtype=np.uint8)
    image = block_image(blocks, 4).astype(np.int32)
    image[::2, ::2] += 2  # within each 4x4 block: 4 of 16 pixels 2 brighter -> block mean +0.5
    image = np.clip(image, 0, 255).astype(np.uint8)
    fitted = fit_to_model(image, 4)
    assert fitted.shape == (4, 4, channels) and fitted.dtype == np.uint8
    expected = block_image(blocks, 4).astype(float)
    expected[::2, ::2] = np.minimum(expected[::2, ::2] + 2, 255)
    block_means = expected.reshape(4, 4, 4, 4, channels).mean(axis=(1, 3))
    assert np.abs(fitted - block_means).max() <= 1


def test_resize_squeezes_the_whole_view_while_center_crop_keeps_the_middle():
    image = np.zeros((40, 80, 1), np.uint8)
    image[:, :20] = 255  # a white stripe on the left quarter
    squeezed = fit_to_model(image, 20, "resize")
    cropped = fit_to_model(image, 20, "center_crop")
    assert squeezed[:, :5].min() == 255 and squeezed[:, 5:].max() == 0
    assert cropped.max() == 0  # the centre 40x40 square (columns 20..59) has no stripe


def test_center_square_is_the_middle_of_the_long_side():
    image = np.arange(4 * 6).reshape(4, 6, 1)
    np.testing.assert_array_equal(center_square(image), image[:, 1:5])
    np.testing.assert_array_equal(center_square(image.transpose(1, 0, 2)), image.transpose(1, 0, 2)[1:5])


def test_model_sized_input_passes_through_unchanged():
    image = np.random.default_rng(2).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(fit_to_model(image, 8, "center_crop"), image)


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="resize mode"):
        fit_to_model(np.zeros((4, 4, 1), np.uint8), 2, "stretch")


def test_stack_views_adds_the_batch_axis():
    views = [np.full((8, 8, 1), k, np.uint8) for k in range(3)]
    batch = stack_views(views)
    assert batch.shape == (1, 3, 8, 8, 1)
    assert batch[0, 2].min() == 2
