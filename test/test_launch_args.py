"""The launch file's argument checks (fusionvae_ros.launch_args): the values users type, the one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from fusionvae_ros.bag.register import CameraRegistration, parameter_file
from fusionvae_ros.launch_args import (
    LaunchArgumentError,
    check_namespace,
    check_params_file,
    node_exit_problem,
    parse_camera_topics,
    parse_flag,
)


@pytest.mark.parametrize(
    ("text", "topics"),
    [
        ("", None),
        ("  ", None),
        ("/left/image_raw,/right/image_raw", ["/left/image_raw", "/right/image_raw"]),
        ("[/a,/b]", ["/a", "/b"]),  # the list syntax of ros2 launch arguments
        ("['/a', \"/b\", c/image]", ["/a", "/b", "c/image"]),
        (" cam0/image , cam1/image, ", ["cam0/image", "cam1/image"]),
        ("~/image", ["~/image"]),
    ],
)
def test_camera_topics_in_every_common_spelling(text, topics):
    assert parse_camera_topics(text) == topics


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/left/image-raw", "camera_topics: '/left/image-raw' is not a valid ROS topic name: topic name must not"),
        ("[/a,/b/]", "camera_topics: '/b/' is not a valid ROS topic name: topic name must not end with a forward"),
        ("/a,/b,/c,/d", "expected 1 to 3 comma-separated topics, got 4"),
        ("[]", "expected 1 to 3 comma-separated topics, got 0"),
        ("/a,/a", "topics must be distinct"),
        ("2cams/image", "topic name token must not start with a number"),
    ],
)
def test_bad_camera_topics_are_one_line_naming_the_topic(text, message):
    with pytest.raises(LaunchArgumentError) as error:
        parse_camera_topics(text)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_flags_are_true_or_false_never_silently_false():
    assert [parse_flag("use_sim_time", text) for text in ("true", "True", " 1", "false", "FALSE", "0")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    for text in ("maybe", "", "yes please", "2"):
        with pytest.raises(LaunchArgumentError, match=r"use_sim_time:=.*: expected true or false"):
            parse_flag("use_sim_time", text)


def test_namespaces_relative_or_absolute_and_invalid_ones_named():
    assert check_namespace("") == ""
    assert check_namespace("robot1") == "robot1"
    assert check_namespace("/robot1/left") == "/robot1/left"
    with pytest.raises(LaunchArgumentError, match="namespace:='robot-1' is not a valid ROS namespace"):
        check_namespace("robot-1")


def test_params_file_must_exist_and_hold_ros_parameters(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("/**:\n  ros__parameters:\n    slop: 0.02\n")
    assert check_params_file(f" {good} ") == str(good)
    cases = {
        str(tmp_path / "missing.yaml"): "does not exist",
        str(tmp_path): "is a folder",
    }
    broken = tmp_path / "broken.yaml"
    broken.write_text("/**: [unclosed\n")
    cases[str(broken)] = "not valid YAML"
    plain = tmp_path / "plain.yaml"
    plain.write_text("slop: 0.02\n")
    cases[str(plain)] = "expected a ROS 2 parameter file"
    for text, message in cases.items():
        with pytest.raises(LaunchArgumentError) as error:
            check_params_file(text)
        assert str(error.value).startswith(f"params_file:='{text}': {message}") and "\n" not in str(error.value)


def test_registration_file_from_register_is_accepted_and_a_missing_one_named(tmp_path):
    homography = np.array([[1.0, 0.0, 4.5], [0.0, 1.0, -2.0], [0.0, 0.0, 1.0]])
    estimate = CameraRegistration(1, "/cam1/image_raw", homography, 5, 40, 30, np.full(30, 0.1))
    written = tmp_path / "registration.yaml"
    written.write_text(parameter_file([estimate], "bag"))
    assert check_params_file(str(written), "registration_file") == str(written)
    missing = str(tmp_path / "typo.yaml")
    with pytest.raises(LaunchArgumentError) as error:
        check_params_file(missing, "registration_file")
    assert str(error.value) == f"registration_file:='{missing}': does not exist"


def test_managed_is_a_boolean_like_every_flag():
    assert parse_flag("managed", "True") is True and parse_flag("managed", "0") is False
    with pytest.raises(LaunchArgumentError, match=r"managed:='lifecycle': expected true or false"):
        parse_flag("managed", "lifecycle")


def test_node_exit_problem_for_errors_and_signals_only():
    assert node_exit_problem("fusion_node-1", 0) is None
    assert node_exit_problem("fusion_node-1", 2) == "fusion_node-1 exited (exit status 2); its log above says why"
    assert "was killed by signal 9" in node_exit_problem("fusion_node-1", -9)
