"""The parameter table (params.py): one NodeSettings field per parameter, config/fusionvae.yaml in step with it, the
checks of NodeSettings.from_values and of run-time changes."""

from __future__ import annotations

import array
import dataclasses
from pathlib import Path

import pytest
import yaml

from fusionvae_ros.params import (
    PARAMETERS,
    RUNTIME_PARAMETERS,
    NodeSettings,
    SettingsError,
    check_runtime_value,
)

CONFIG = Path(__file__).resolve().parents[1] / "config" / "fusionvae.yaml"


def yaml_parameters() -> dict:
    document = yaml.safe_load(CONFIG.read_text())
    (node_key,) = document
    return document[node_key]["ros__parameters"]


def test_config_file_lists_every_parameter_with_the_code_default():
    assert yaml_parameters() == {spec.name: spec.default for spec in PARAMETERS if spec.default is not None}
    unset = [spec.name for spec in PARAMETERS if spec.default is None]
    assert unset == ["compositing"]
    assert all(f"# {name}: " in CONFIG.read_text() for name in unset), "unset parameters are shown commented out"


def test_the_table_is_the_settings_class():
    assert [spec.name for spec in PARAMETERS] == [entry.name for entry in dataclasses.fields(NodeSettings)]
    assert NodeSettings() == NodeSettings.from_values({}), "the defaults are valid settings"
    assert RUNTIME_PARAMETERS == ("slop", "max_wait", "fusion_rate", "num_hypotheses", "temperature", "compositing")


def test_defaults_are_not_shared_between_settings():
    first, second = NodeSettings(), NodeSettings()
    first.camera_topics.append("extra")
    assert len(second.camera_topics) == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"camera_topics": ["a", "b", "c", "d"]}, "expected 1 to 3 non-empty topic names"),
        ({"camera_topics": ["a", "a"]}, "distinct"),
        ({"view_source": "temporal"}, "view_source temporal fuses the frames of one camera; name exactly one topic"),
        ({"view_source": "temporal", "camera_topics": ["a", "b"]}, "camera_topics=['a', 'b']: view_source temporal"),
        ({"view_source": "video"}, "view_source='video': expected one of cameras, temporal"),
        ({"temporal_max_frames": 1}, "temporal_max_frames=1: expected a value in [2, 120]"),
        ({"fusion_rate": -1.0}, "fusion_rate=-1.0: expected a value in [0.0, 100.0]"),
        ({"backend": "caffe"}, "backend='caffe': expected one of onnxruntime, torch, tensorrt"),
        ({"resize_mode": "random_crop"}, "expected one of resize, center_crop"),
        ({"slop": 5.0}, "slop=5.0: expected a value in [0.0, 1.0]"),
        ({"temperature": float("nan")}, "must be a finite number"),
        ({"homography_1": [1.0] * 6}, "homography_1: expected 9 values"),
        ({"no_such_parameter": 1}, "unknown node parameter no_such_parameter"),
    ],
)
def test_from_values_names_the_bad_parameter(values, message):
    with pytest.raises(SettingsError) as error:
        NodeSettings.from_values(values)
    assert message in str(error.value)


def test_from_values_takes_tuples_and_arrays_as_lists():
    identity = array.array("d", [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])  # how rclpy hands over double arrays
    settings = NodeSettings.from_values({"camera_topics": ("a", "b"), "homography_2": identity})
    assert settings.camera_topics == ["a", "b"] and isinstance(settings.homography_2, list)


def test_runtime_changes_reject_non_finite_numbers_only_for_runtime_parameters():
    assert check_runtime_value("temperature", float("nan"))
    assert check_runtime_value("slop", float("inf"))
    assert check_runtime_value("temperature", 0.7) is None
    assert check_runtime_value("temperature", -1.0) is None, "-1 selects the model's recommended temperature"
    assert "model's own" in (check_runtime_value("temperature", -0.5) or "")
    assert check_runtime_value("use_sim_time", True) is None


def test_temporal_view_source_takes_one_camera_and_its_own_parameters():
    settings = NodeSettings.from_values(
        {"view_source": "temporal", "camera_topics": ["arm_cam/image_raw"], "temporal_window": 2.0, "fusion_rate": 0.0}
    )
    assert (settings.view_source, settings.camera_topics) == ("temporal", ["arm_cam/image_raw"])
    assert (settings.temporal_window, settings.temporal_max_frames, settings.fusion_rate) == (2.0, 30, 0.0)
    assert NodeSettings().view_source == "cameras", "today's behaviour stays the default"
