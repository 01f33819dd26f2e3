"""Start the FusionVAE fusion node with the package's parameter file and optional overrides.

    ros2 launch fusionvae_ros fuse.launch.py
    ros2 launch fusionvae_ros fuse.launch.py camera_topics:=/left/image_raw,/right/image_raw namespace:=robot1
    ros2 launch fusionvae_ros fuse.launch.py params_file:=/path/my_params.yaml use_sim_time:=true
    ros2 launch fusionvae_ros fuse.launch.py input_transport:=compressed
    ros2 launch fusionvae_ros fuse.launch.py registration_file:=registration.yaml   # from `fusionvae_bag register`
    ros2 launch fusionvae_ros fuse.launch.py managed:=true   # lifecycle node: ros2 lifecycle set /fusion_node configure
    ros2 launch fusionvae_ros fuse.launch.py view_source:=temporal camera_topics:=/cell_cam/image_raw   # one camera

Empty camera_topics / backend / model_path / input_transport / view_source arguments leave the params file's values in
force. Bad arguments (topic names, a missing params or registration file, a boolean that is neither true nor false,
view_source temporal with more than one camera topic) stop the launch with one line before the node starts; when the
node exits with an error, `ros2 launch` does too (non-zero status). Log colours only when the launch runs in a terminal.
"""

import sys

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

from fusionvae_ros.launch_args import (
    check_namespace,
    check_params_file,
    check_view_source,
    node_exit_problem,
    params_file_value,
    parse_camera_topics,
    parse_flag,
    parse_view_source,
)

PACKAGE = "fusionvae_ros"


class NodeFailedError(RuntimeError):
    """The fusion node exited with an error; raised so that `ros2 launch` exits non-zero with one line."""


def on_node_exit(event, context):
    """Stop the launch when the node ends: with an error (non-zero launch status) unless it exited cleanly."""
    problem = node_exit_problem(event.process_name, event.returncode)
    if problem is not None:
        raise NodeFailedError(problem)
    return [EmitEvent(event=Shutdown(reason=f"{event.process_name} exited"))]


def fusion_node(context):
    """The node, with the params file first and the non-empty launch arguments overriding it."""

    def argument(name):
        """The launch argument's value as text, surrounding blanks removed."""
        return LaunchConfiguration(name).perform(context).strip()

    params_file = check_params_file(argument("params_file"))
    overrides = {"use_sim_time": parse_flag("use_sim_time", argument("use_sim_time"))}
    topics = parse_camera_topics(argument("camera_topics"))
    if topics:
        overrides["camera_topics"] = topics
    optional = {
        "backend": argument("backend"),
        "model_path": argument("model_path"),
        "input_transport": argument("input_transport"),
        "view_source": parse_view_source(argument("view_source")),
    }
    overrides.update({name: value for name, value in optional.items() if value})
    registration = argument("registration_file")  # homography_1/2 from `fusionvae_bag register`
    if registration:
        params_files = [params_file, check_params_file(registration, "registration_file")]
    else:
        params_files = [params_file]
    check_view_source(
        overrides.get("view_source") or params_file_value(params_files, "view_source"),
        overrides.get("camera_topics") or params_file_value(params_files, "camera_topics"),
    )
    common = {
        "package": PACKAGE,
        "name": "fusion_node",
        "namespace": check_namespace(argument("namespace")),
        "parameters": [*params_files, overrides],
        "output": "screen",
        "emulate_tty": sys.stdout.isatty(),  # colour codes only for a terminal, never in piped or saved logs
    }
    if parse_flag("managed", argument("managed")):  # starts unconfigured; a lifecycle manager drives it
        node = LifecycleNode(executable="fusion_lifecycle_node", **common)
    else:
        node = Node(executable="fusion_node", **common)
    return [node, RegisterEventHandler(OnProcessExit(target_action=node, on_exit=on_node_exit))]


def generate_launch_description():
    """Launch arguments and the fusion node."""
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "fusionvae.yaml"]),
                description="YAML file with the node's ros__parameters (default: the package's config/fusionvae.yaml)",
            ),
            DeclareLaunchArgument(
                "camera_topics",
                default_value="",
                description="1-3 camera Image topics, comma-separated ('a,b') or as a list ('[a,b]'); empty = the "
                "params file's list",
            ),
            DeclareLaunchArgument(
                "backend",
                default_value="",
                description="inference backend: onnxruntime, torch or tensorrt; empty = the params file's value",
            ),
            DeclareLaunchArgument(
                "model_path",
                default_value="",
                description="model file (ONNX; a .pt checkpoint for the torch backend); empty = the params file's "
                "value (default: the shipped FusionMNIST model)",
            ),
            DeclareLaunchArgument(
                "input_transport",
                default_value="",
                description="raw (sensor_msgs/Image on each camera topic) or compressed (CompressedImage on "
                "<camera topic>/compressed, as image_transport publishes it); empty = the params file's value",
            ),
            DeclareLaunchArgument(
                "view_source",
                default_value="",
                description="cameras (synchronised views of the camera topics) or temporal (ONE fixed camera: its "
                "newest frame fused with earlier frames; pass its topic as camera_topics); empty = the params "
                "file's value",
            ),
            DeclareLaunchArgument(
                "registration_file",
                default_value="",
                description="YAML with homography_1/homography_2 (written by `fusionvae_bag register`), loaded after "
                "params_file; empty = the params file's homographies (identity: views already aligned)",
            ),
            DeclareLaunchArgument(
                "managed",
                default_value="false",
                description="true: run the managed (lifecycle) node fusion_lifecycle_node, which starts unconfigured "
                "and is driven by a lifecycle manager or `ros2 lifecycle set`; false: the plain fusion_node",
            ),
            DeclareLaunchArgument(
                "namespace",
                default_value="",
                description="namespace for the node and its relative topics (camera inputs, fused/* outputs)",
            ),
            DeclareLaunchArgument(
                "use_sim_time",
                default_value="false",
                description="true to follow /clock, e.g. when replaying a rosbag with --clock",
            ),
            OpaqueFunction(function=fusion_node),
        ]
    )
