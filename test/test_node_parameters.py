"""The table's parameters on a rclpy node (node_parameters.py): descriptors that describe, bound and protect them."""

from __future__ import annotations

import pytest
from rcl_interfaces.msg import ParameterDescriptor

from fusionvae_ros.node_parameters import descriptor
from fusionvae_ros.params import PARAMETERS, SPECS


@pytest.mark.parametrize("spec", PARAMETERS, ids=lambda spec: spec.name)
def test_descriptors_describe_and_bound_numbers(spec):
    result = descriptor(spec)
    assert isinstance(result, ParameterDescriptor)
    assert result.description
    assert result.read_only == (not spec.runtime)
    if spec.value_type in (bool, str, list):
        return
    ranges = result.floating_point_range if isinstance(spec.default, float) else result.integer_range
    assert len(ranges) == 1, "numeric parameters carry a range"
    assert ranges[0].from_value <= spec.default <= ranges[0].to_value


def test_choices_are_listed_in_the_descriptor():
    assert descriptor(SPECS["backend"]).additional_constraints == "one of: onnxruntime, torch, tensorrt"
