"""model.image_size / model.channels in training configs: every preset at 32, 64, 128 and 1 or 3 channels, real
forward and sampling passes at those sizes, and one clear error for sizes the latent hierarchy cannot divide."""

from __future__ import annotations

import pytest
import torch

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.config import PRESETS
from fusionvae_core.training import ConfigError, TrainConfig


def sized(preset: str, **model: object) -> TrainConfig:
    return TrainConfig.from_dict({"model": {"preset": preset, **model}, "budget": {"max_steps": 1}}, source="test")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_takes_every_documented_size_and_channel_count(preset: str) -> None:
    for size in (32, 64, 128):
        for channels in (1, 3):
            config = sized(preset, image_size=size, channels=channels).model.model_config()
            assert (config.image_size, config.channels, config.name) == (size, channels, preset)
    assert sized(preset).model.model_config() == ModelConfig.preset(preset)  # unset: the preset as it is


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "size", "channels"), [("tiny", 128, 3), ("tiny", 32, 1), ("fusion_mnist", 64, 3)])
def test_resized_models_train_and_sample_at_their_size(preset: str, size: int, channels: int) -> None:
    torch.manual_seed(0)
    model = FusionVAE(sized(preset, image_size=size, channels=channels).model.model_config())
    views, target = torch.rand(2, 2, channels, size, size), torch.rand(2, channels, size, size)
    out = model(views, target)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    samples = model.sample(views, num_samples=2)
    assert samples.shape == (2, 2, channels, size, size)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"preset": "fusion_celeba", "image_size": 100},
            "model.image_size: 100 does not fit preset 'fusion_celeba': its latent hierarchy halves the image 3 "
            "times, so the size must be a multiple of 8",
        ),
        ({"preset": "tiny", "image_size": 18}, "multiple of 4"),
        ({"preset": "tiny", "channels": 2}, "model.channels: expected 1 .grey. or 3 .RGB., got 2"),
    ],
)
def test_sizes_the_hierarchy_cannot_divide_give_one_clear_error(model: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sized(**model)  # type: ignore[arg-type]
