"""Start the FusionVAE fusion node with the package's parameter file and optional overrides.

    ros2 launch fusionvae_ros fuse.launch.py
    ros2 launch fusionvae_ros fuse.launch.py camera_topics:=/left/image_raw,/right/image_raw namespace:=robot1
    ros2 launch fusionvae_ros fuse.launch.py params_file:=/path/my_params.yaml use_sim_time:=true
    ros2 launch fusionvae_ros fuse.launch.py input_transport:=compressed
    ros2 launch fusionvae_ros fuse.launch.py registration_file:=registration.yaml   # from `fusionvae_bag register`
    ros2 launch fusionvae_ros fuse.launch.py managed:=true   # lifecycle node: ros2 lifecycle set /fusion_node configure

Empty camera_topics / backend / model_path / input_transport arguments leave the params file's values in force.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "fusionvae_ros"


def fusion_node(context):
    """The node, with the params file first and the non-empty launch arguments overriding it."""

    def argument(name):
        """The launch argument's value as text, surrounding blanks removed."""
        return LaunchConfiguration(name).perform(context).strip()

    overrides = {"use_sim_time": argument("use_sim_time").lower() in ("true", "1", "yes")}
    topics = [topic.strip() for topic in argument("camera_topics").split(",") if topic.strip()]
    if topics:
        overrides["camera_topics"] = topics
    optional = {
        "backend": argument("backend"),
        "model_path": argument("model_path"),
        "input_transport": argument("input_transport"),
    }
    overrides.update({name: value for name, value in optional.items() if value})
    registration = argument("registration_file")  # homography_1/2 from `fusionvae_bag register`
    parameter_files = [argument("params_file"), *([registration] if registration else [])]
    common = {
        "package": PACKAGE,
        "name": "fusion_node",
        "namespace": argument("namespace"),
        "parameters": [*parameter_files, overrides],
        "output": "screen",
        "emulate_tty": True,
    }
    if argument("managed").lower() in ("true", "1", "yes"):  # starts unconfigured; a lifecycle manager drives it
        return [LifecycleNode(executable="fusion_lifecycle_node", **common)]
    return [Node(executable="fusion_node", **common)]


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
                description="comma-separated list of 1-3 camera Image topics; empty = the params file's list",
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
