"""launch/fuse.launch.py, checked statically.

`launch` and `launch_ros` are not installable from PyPI, so the file cannot be executed here: this test parses it
with `ast` and checks that it defines generate_launch_description, uses the standard launch / launch_ros API and
declares every documented argument with a description. That is the most that can be checked without a ROS 2
install; running it needs `ros2 launch fusionvae_ros fuse.launch.py` on a robot.
"""

from __future__ import annotations

import ast
from pathlib import Path

LAUNCH_FILE = Path(__file__).resolve().parents[1] / "launch" / "fuse.launch.py"
REQUIRED_ARGUMENTS = {
    "params_file",
    "camera_topics",
    "backend",
    "model_path",
    "input_transport",
    "registration_file",
    "managed",
    "namespace",
    "use_sim_time",
}


def parsed() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def calls_to(tree: ast.Module, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    ]


def common_node_arguments(tree: ast.Module) -> dict[str, ast.expr]:
    """The ``common = {...}`` keyword arguments both node actions (plain and lifecycle) are built with."""
    common = next(
        node.value for node in ast.walk(tree) if isinstance(node, ast.Assign) and node.targets[0].id == "common"
    )
    assert isinstance(common, ast.Dict)
    return {ast.literal_eval(key): value for key, value in zip(common.keys, common.values, strict=True)}


def test_defines_generate_launch_description():
    functions = {node.name for node in parsed().body if isinstance(node, ast.FunctionDef)}
    assert "generate_launch_description" in functions


def test_declares_every_argument_with_a_description():
    declared = {}
    for call in calls_to(parsed(), "DeclareLaunchArgument"):
        assert call.args and isinstance(call.args[0], ast.Constant), "argument names must be literal"
        keywords = {keyword.arg: keyword.value for keyword in call.keywords}
        description = keywords.get("description")
        assert isinstance(description, ast.Constant) and description.value.strip(), (
            f"{call.args[0].value}: no description"
        )
        assert "default_value" in keywords, f"{call.args[0].value}: no default"
        declared[call.args[0].value] = keywords
    assert set(declared) >= REQUIRED_ARGUMENTS


def test_every_declared_argument_is_used():
    tree = parsed()
    declared = {call.args[0].value for call in calls_to(tree, "DeclareLaunchArgument")}
    read = {
        call.args[0].value
        for name in ("argument", "LaunchConfiguration")
        for call in calls_to(tree, name)
        if call.args and isinstance(call.args[0], ast.Constant)
    }
    assert declared <= read, f"declared but never read: {sorted(declared - read)}"


def test_uses_the_standard_launch_ros_api():
    tree = parsed()
    imported = {
        (node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert ("launch", "LaunchDescription") in imported
    assert ("launch.actions", "DeclareLaunchArgument") in imported
    assert ("launch.substitutions", "LaunchConfiguration") in imported
    assert ("launch_ros.actions", "Node") in imported
    assert ("launch_ros.substitutions", "FindPackageShare") in imported
    assert ("launch.substitutions", "PathJoinSubstitution") in imported
    assert ("launch_ros.actions", "LifecycleNode") in imported
    executables = {}
    for action in ("Node", "LifecycleNode"):  # plain node by default, the managed one with managed:=true
        (node,) = calls_to(tree, action)
        keywords = {keyword.arg: keyword.value for keyword in node.keywords}
        executables[action] = ast.literal_eval(keywords["executable"])
    assert executables == {"Node": "fusion_node", "LifecycleNode": "fusion_lifecycle_node"}
    assert {"package", "namespace", "parameters", "name"} <= set(common_node_arguments(tree))
    (share,) = calls_to(tree, "FindPackageShare")
    assert calls_to(tree, "PathJoinSubstitution"), "the default params file is joined from the package share"
    assert share.args


def test_arguments_are_checked_at_launch_time_by_the_tested_helpers():
    tree = parsed()
    helpers = {"check_params_file", "parse_flag", "parse_camera_topics", "check_namespace", "node_exit_problem"}
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "fusionvae_ros.launch_args"
        for alias in node.names
    }
    assert helpers <= imported
    assert all(calls_to(tree, helper) for helper in helpers), "every helper is used"


def test_node_exit_ends_the_launch_and_colours_follow_the_terminal():
    tree = parsed()
    (handler,) = calls_to(tree, "OnProcessExit")
    keywords = {keyword.arg: keyword.value for keyword in handler.keywords}
    assert isinstance(keywords["target_action"], ast.Name) and isinstance(keywords["on_exit"], ast.Name)
    assert calls_to(tree, "RegisterEventHandler") and calls_to(tree, "Shutdown")
    emulate_tty = common_node_arguments(tree)["emulate_tty"]
    assert ast.unparse(emulate_tty) == "sys.stdout.isatty()", "no colour codes in piped logs"
