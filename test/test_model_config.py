"""ModelConfig: presets carry the published sizing, round-trip through JSON, and bad values fail clearly."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fusionvae_core import ModelConfig
from fusionvae_core.config import ada_groups

PRESETS = ("tiny", "fusion_mnist", "fusion_celeba", "fusion_tless")


@pytest.mark.parametrize("name", PRESETS)
def test_preset_round_trips_through_json(name: str) -> None:
    config = ModelConfig.preset(name)
    assert config.name == name
    restored = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config


def test_presets_follow_the_paper_table_6() -> None:
    mnist, celeba, tless = (ModelConfig.preset(n) for n in ("fusion_mnist", "fusion_celeba", "fusion_tless"))
    assert (mnist.image_size, mnist.channels, mnist.likelihood) == (32, 1, "bernoulli")
    assert mnist.groups_per_scale == (5, 2) and mnist.latent_channels == 10
    assert [mnist.scale_resolution(s) for s in range(mnist.num_scales)] == [4, 8]
    assert celeba.groups_per_scale == (10, 5, 2) and celeba.latent_channels == 20 and celeba.num_latent_groups == 17
    assert [celeba.scale_resolution(s) for s in range(celeba.num_scales)] == [8, 16, 32]
    assert (celeba.likelihood, tless.likelihood) == ("logistic_mixture", "bernoulli")
    assert (tless.image_size, tless.channels) == (64, 3)


@pytest.mark.parametrize(
    ("name", "units", "layout"),
    [
        # NVAE's --ada_groups puts the most groups at the FINEST scale: [5, 2] is 5 groups at 8² and 2 at 4²
        ("fusion_mnist", 3_520, [4] * 2 + [8] * 5),
        ("fusion_celeba", 232_960, [8] * 2 + [16] * 5 + [32] * 10),
        ("fusion_tless", 232_960, [8] * 2 + [16] * 5 + [32] * 10),
    ],
)
def test_latent_layout_is_the_authors_ada_groups(name: str, units: int, layout: list[int]) -> None:
    config = ModelConfig.preset(name)
    assert list(config.groups_per_scale) == ada_groups(config.groups_per_scale[0], config.num_scales)
    sizes = [config.scale_resolution(scale) for scale in config.group_scales()]  # top-down order, coarse -> fine
    assert sizes == layout
    assert sum(config.latent_channels * size * size for size in sizes) == units


def test_ada_groups_halves_towards_coarse_scales() -> None:
    assert ada_groups(5, 2) == [5, 2]
    assert ada_groups(10, 3) == [10, 5, 2]
    assert ada_groups(3, 4) == [3, 1, 1, 1]


def test_preset_overrides_and_replace() -> None:
    config = ModelConfig.preset("tiny", aggregation="mean", groups_per_scale=[1, 1])
    assert config.aggregation == "mean" and config.groups_per_scale == (1, 1)
    assert dataclasses.replace(config, posterior="xy").posterior == "xy"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.latent_channels = 3  # type: ignore[misc]


def test_unknown_key_and_preset_are_named() -> None:
    with pytest.raises(ValueError, match="latent_chanels"):
        ModelConfig.from_dict({**ModelConfig.preset("tiny").to_dict(), "latent_chanels": 4})
    with pytest.raises(ValueError, match="fusion_mnits"):
        ModelConfig.preset("fusion_mnits")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"aggregation": "sum"}, "aggregation"),
        ({"aggregation_mode": "concat"}, "aggregation_mode"),
        ({"posterior": "x"}, "posterior"),
        ({"likelihood": "gaussian"}, "likelihood"),
        ({"latent_channels": 0}, "latent_channels"),
        ({"latent_channels": "4"}, "latent_channels"),
        ({"use_se": 1}, "use_se"),
        ({"image_size": 18}, "image_size"),
        ({"groups_per_scale": [2, 0]}, "groups_per_scale"),
        ({"num_postprocess_blocks": 2}, "num_postprocess_blocks"),
        ({"kl_warmup_fraction": 1.5}, "kl_warmup_fraction"),
    ],
)
def test_invalid_values_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ModelConfig.preset("tiny", **overrides)
