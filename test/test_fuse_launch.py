"""launch/fuse.launch.py, run: what node it starts, with which parameters, for the arguments users type.

``launch`` and ``launch_ros`` are not installable from PyPI, so this test runs the launch file against minimal
stand-ins of the standard API it uses (each records its arguments; substitutions resolve against the launch
arguments given). A name the file imports that the stand-ins lack fails the import, so the file keeps to that
API; running it for real needs ``ros2 launch fusionvae_ros fuse.launch.py`` on a ROS 2 install.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fusionvae_ros.launch_args import LaunchArgumentError

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / "launch" / "fuse.launch.py"
PARAMS_FILE = str(REPO / "config" / "fusionvae.yaml")
DOCUMENTED_ARGUMENTS = {
    "params_file",
    "camera_topics",
    "backend",
    "model_path",
    "input_transport",
    "view_source",
    "registration_file",
    "managed",
    "namespace",
    "use_sim_time",
}


class Recorded:
    """A launch action or event: its class and the arguments it was built with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class Context:
    """The launch context: argument values given on the command line, and which ones the file read."""

    def __init__(self, given: dict[str, str], defaults: dict[str, Any]) -> None:
        self.given, self.defaults, self.read = given, defaults, set()

    def value(self, name: str) -> str:
        self.read.add(name)
        value = self.given.get(name, self.defaults[name])
        return value if isinstance(value, str) else value.perform(self)


class LaunchConfiguration(Recorded):
    def perform(self, context: Context) -> str:
        return context.value(self.args[0])


class PathJoinSubstitution(Recorded):
    def perform(self, context: Context) -> str:
        return os.path.join(*(part if isinstance(part, str) else part.perform(context) for part in self.args[0]))


class FindPackageShare(Recorded):
    def perform(self, context: Context) -> str:
        return str(REPO)  # the source tree has the share directory's layout (config/, models/)


STAND_INS = {
    "launch": {"LaunchDescription": Recorded},
    "launch.actions": dict.fromkeys(
        ("DeclareLaunchArgument", "EmitEvent", "OpaqueFunction", "RegisterEventHandler"), Recorded
    ),
    "launch.event_handlers": {"OnProcessExit": Recorded},
    "launch.events": {"Shutdown": Recorded},
    "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration, "PathJoinSubstitution": PathJoinSubstitution},
    "launch_ros.actions": {
        "Node": type("Node", (Recorded,), {}),
        "LifecycleNode": type("LifecycleNode", (Recorded,), {}),
    },
    "launch_ros.substitutions": {"FindPackageShare": FindPackageShare},
}


@pytest.fixture
def launch_file(monkeypatch) -> ModuleType:
    """fuse.launch.py imported against the stand-ins."""
    for name, members in STAND_INS.items():
        module = ModuleType(name)
        module.__dict__.update(members)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("fuse_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launch(launch_file: ModuleType, **given: str) -> tuple[Recorded, Recorded, Context]:
    """Run the launch description with the launch arguments ``given``: (node action, exit handler, context)."""
    description = launch_file.generate_launch_description()
    entities = description.args[0]
    declared = {entity.args[0]: entity.kwargs for entity in entities if "default_value" in entity.kwargs}
    context = Context(given, {name: kwargs["default_value"] for name, kwargs in declared.items()})
    (opaque,) = [entity for entity in entities if "function" in entity.kwargs]
    node, handler = opaque.kwargs["function"](context)
    return node, handler, context


def test_every_documented_argument_is_declared_with_a_description_and_read(launch_file):
    entities = launch_file.generate_launch_description().args[0]
    declared = {entity.args[0]: entity.kwargs for entity in entities if "default_value" in entity.kwargs}
    assert set(declared) == DOCUMENTED_ARGUMENTS
    assert all(kwargs["description"].strip() for kwargs in declared.values())
    *_, context = launch(launch_file)
    assert context.read == DOCUMENTED_ARGUMENTS, "every declared argument is used"


def test_defaults_start_the_plain_node_with_the_packaged_params_file(launch_file):
    node, _, _ = launch(launch_file)
    assert type(node).__name__ == "Node"
    kwargs = node.kwargs
    assert (kwargs["package"], kwargs["executable"], kwargs["name"], kwargs["namespace"]) == (
        "fusionvae_ros",
        "fusion_node",
        "fusion_node",
        "",
    )
    assert kwargs["parameters"] == [PARAMS_FILE, {"use_sim_time": False}]


def test_arguments_override_the_params_file(launch_file, tmp_path):
    registration = tmp_path / "registration.yaml"
    registration.write_text(
        "/**:\n  ros__parameters:\n    homography_1: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]\n"
    )
    node, _, _ = launch(
        launch_file,
        camera_topics="[/left/image_raw, /right/image_raw]",
        backend="torch",
        model_path="/models/own.pt",
        input_transport="compressed",
        registration_file=str(registration),
        namespace="robot1",
        use_sim_time="True",
    )
    overrides = {
        "use_sim_time": True,
        "camera_topics": ["/left/image_raw", "/right/image_raw"],
        "backend": "torch",
        "model_path": "/models/own.pt",
        "input_transport": "compressed",
    }
    assert node.kwargs["parameters"] == [PARAMS_FILE, str(registration), overrides]
    assert node.kwargs["namespace"] == "robot1"


def test_temporal_view_source_with_one_camera_topic(launch_file):
    node, _, _ = launch(launch_file, view_source="temporal", camera_topics="/cell_cam/image_raw")
    assert node.kwargs["parameters"][-1] == {
        "use_sim_time": False,
        "camera_topics": ["/cell_cam/image_raw"],
        "view_source": "temporal",
    }


def test_temporal_view_source_from_the_params_file_with_its_one_topic(launch_file, tmp_path):
    params = tmp_path / "cell.yaml"
    params.write_text('/**:\n  ros__parameters:\n    view_source: temporal\n    camera_topics: ["cell/image_raw"]\n')
    node, _, _ = launch(launch_file, params_file=str(params))
    assert node.kwargs["parameters"] == [str(params), {"use_sim_time": False}]


@pytest.mark.parametrize(
    ("given", "params", "count"),
    [
        ({"view_source": "temporal"}, None, 3),  # the packaged params file's three cameras
        ({"view_source": "temporal", "camera_topics": "/a,/b"}, None, 2),
        ({}, "view_source: temporal\n    camera_topics: [a, b]", 2),
        ({"camera_topics": "/a,/b"}, "view_source: temporal", 2),
    ],
)
def test_temporal_view_source_with_several_camera_topics_is_one_line(launch_file, tmp_path, given, params, count):
    if params is not None:
        path = tmp_path / "params.yaml"
        path.write_text(f"/**:\n  ros__parameters:\n    {params}\n")
        given = {**given, "params_file": str(path)}
    with pytest.raises(LaunchArgumentError) as error:
        launch(launch_file, **given)
    message = str(error.value)
    assert f"view_source:=temporal fuses the frames of one camera, but camera_topics names {count}" in message
    assert "\n" not in message


def test_managed_starts_the_lifecycle_node(launch_file):
    node, _, _ = launch(launch_file, managed="true")
    assert type(node).__name__ == "LifecycleNode" and node.kwargs["executable"] == "fusion_lifecycle_node"
    assert node.kwargs["name"] == "fusion_node"


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("use_sim_time", "maybe", "use_sim_time"),
        ("managed", "yes", "managed"),
        ("camera_topics", "/left/image-raw", "not a valid ROS topic name"),
        ("params_file", "/no/such/params.yaml", "params_file"),
        ("namespace", "robot 1", "namespace"),
        ("view_source", "video", "view_source:='video': expected cameras or temporal"),
    ],
)
def test_bad_arguments_stop_the_launch_before_the_node_starts(launch_file, argument, value, message):
    with pytest.raises(LaunchArgumentError, match=message):
        launch(launch_file, **{argument: value})


@pytest.mark.parametrize("terminal", [True, False])
def test_log_colours_follow_the_terminal(launch_file, monkeypatch, terminal):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    node, _, _ = launch(launch_file)
    assert node.kwargs["emulate_tty"] is terminal and node.kwargs["output"] == "screen"


def test_the_node_ending_ends_the_launch_with_an_error_only_on_failure(launch_file):
    node, handler, _ = launch(launch_file)
    (on_exit,) = handler.args
    assert on_exit.kwargs["target_action"] is node
    event = type("ProcessExited", (), {"process_name": "fusion_node-1", "returncode": 0})()
    (shutdown,) = on_exit.kwargs["on_exit"](event, None)
    assert "fusion_node-1 exited" in shutdown.kwargs["event"].kwargs["reason"]
    event.returncode = 2
    with pytest.raises(launch_file.NodeFailedError, match="exit status 2"):
        on_exit.kwargs["on_exit"](event, None)
