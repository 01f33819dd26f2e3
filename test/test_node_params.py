"""The node's parameter table: descriptors with ranges, config/fusionvae.yaml in step with the code defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rcl_interfaces.msg import ParameterDescriptor

from fusionvae_ros.params import PARAMETERS, RUNTIME_PARAMETERS, NodeSettings, check_runtime_value

CONFIG = Path(__file__).resolve().parents[1] / "config" / "fusionvae.yaml"


def yaml_parameters() -> dict:
    document = yaml.safe_load(CONFIG.read_text())
    (node_key,) = document
    return document[node_key]["ros__parameters"]


def test_config_file_lists_every_parameter_with_the_code_default():
    assert yaml_parameters() == {spec.name: spec.default for spec in PARAMETERS}


def test_every_parameter_is_a_settings_field():
    assert {spec.name for spec in PARAMETERS} == set(NodeSettings.__dataclass_fields__)


@pytest.mark.parametrize("spec", PARAMETERS, ids=lambda spec: spec.name)
def test_descriptors_describe_and_bound_numbers(spec):
    descriptor = spec.descriptor()
    assert isinstance(descriptor, ParameterDescriptor)
    assert descriptor.description
    assert descriptor.read_only == (spec.name not in RUNTIME_PARAMETERS)
    if isinstance(spec.default, bool | str | list):
        return
    ranges = descriptor.floating_point_range if isinstance(spec.default, float) else descriptor.integer_range
    assert len(ranges) == 1, "numeric parameters carry a range"
    assert ranges[0].from_value <= spec.default <= ranges[0].to_value


def test_choices_are_listed_in_the_descriptor():
    backend = next(spec for spec in PARAMETERS if spec.name == "backend")
    assert backend.descriptor().additional_constraints == "one of: onnxruntime, torch, tensorrt"


def test_runtime_changes_reject_non_finite_numbers_only_for_runtime_parameters():
    assert check_runtime_value("temperature", float("nan"))
    assert check_runtime_value("slop", float("inf"))
    assert check_runtime_value("temperature", 0.7) is None
    assert check_runtime_value("temperature", -1.0) is None, "-1 selects the model's recommended temperature"
    assert "model's own" in (check_runtime_value("temperature", -0.5) or "")
    assert check_runtime_value("use_sim_time", True) is None
