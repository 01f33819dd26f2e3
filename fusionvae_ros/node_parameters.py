"""The parameter table (params.py) on a rclpy node: declared with descriptors (type, range, read-only, choices),
read back into validated NodeSettings."""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from fusionvae_ros.params import PARAMETERS, NodeSettings, ParamSpec
from fusionvae_ros.pipeline import StartupError, one_line


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The ParameterDescriptor rclpy enforces (type, range, read-only) and tools display."""
    result = ParameterDescriptor(name=spec.name, description=spec.description, read_only=not spec.runtime)
    if spec.choices:
        result.additional_constraints = f"one of: {', '.join(spec.choices)}"
    if spec.limits and isinstance(spec.default, float):
        low, high = spec.limits
        result.floating_point_range = [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
    elif spec.limits:
        low, high = spec.limits
        result.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
    return result


def declare_parameters(node: Node) -> None:
    """Declare every parameter with its default and descriptor (overrides come from --ros-args / params files);
    StartupError (one line) for an override of the wrong type or out of range."""
    try:
        for spec in PARAMETERS:
            # a parameter without a default is declared unset but typed (rclpy then rejects other types)
            value = spec.default if spec.default is not None else Parameter.Type.from_parameter_value(spec.value_type())
            node.declare_parameter(spec.name, value, descriptor(spec))
    except (InvalidParameterValueException, InvalidParameterTypeException) as error:
        raise StartupError(f"invalid parameter: {one_line(error)}") from None


def read_settings(node: Node) -> NodeSettings:
    """The node's declared parameter values as checked settings (SettingsError for unusable values)."""
    unset = Parameter("unset", value=None)
    return NodeSettings.from_values({spec.name: node.get_parameter_or(spec.name, unset).value for spec in PARAMETERS})
