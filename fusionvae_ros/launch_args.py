"""Launch-time checks of fuse.launch.py's arguments: one-line errors before the node starts, no launch import.

``ros2 launch`` turns an exception raised while the launch file runs into one line ("Caught exception in launch
...") and exit status 1, so each helper raises LaunchArgumentError with a message naming the argument, the value
and what was expected. Without these checks a bad topic name ended in a traceback of the node, a missing params
file was only a warning (the node ran with defaults) and ``use_sim_time:=maybe`` silently meant false. The module
imports rclpy's name validators but not launch, so it is unit-tested where launch is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rclpy.exceptions import InvalidNamespaceException, InvalidTopicNameException
from rclpy.validate_namespace import validate_namespace
from rclpy.validate_topic_name import validate_topic_name

from fusionvae_ros.params import MAX_CAMERAS, SPECS, VIEW_SOURCES

#: launch's own spelling of booleans (as IfCondition reads them), compared case-insensitively.
TRUE_WORDS, FALSE_WORDS = ("true", "1"), ("false", "0")


class LaunchArgumentError(ValueError):
    """A launch argument the node cannot start with; the message is one line naming the argument."""


def _reason(error: Exception) -> str:
    """rclpy's validation message without its multi-line caret drawing: 'topic name must not ...'."""
    first = str(error).split(":\n")[0]
    return first.split(": ", 1)[-1]


def parse_camera_topics(text: str) -> list[str] | None:
    """The topics of ``camera_topics:=...``: 'a,b', '[a,b]' or "['a', 'b']"; None when empty (keep the params file's).

    Each name must be a valid ROS topic name; 1 to MAX_CAMERAS distinct topics.
    """
    text = text.strip()
    if not text:
        return None
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    topics = [item.strip().strip("'\"").strip() for item in inner.split(",")]
    topics = [topic for topic in topics if topic]
    if not 1 <= len(topics) <= MAX_CAMERAS:
        raise LaunchArgumentError(
            f"camera_topics:={text!r}: expected 1 to {MAX_CAMERAS} comma-separated topics, got {len(topics)}"
        )
    for topic in topics:
        try:
            validate_topic_name(topic)
        except InvalidTopicNameException as error:
            raise LaunchArgumentError(
                f"camera_topics: {topic!r} is not a valid ROS topic name: {_reason(error)}"
            ) from None
    if len(set(topics)) != len(topics):
        raise LaunchArgumentError(f"camera_topics:={text!r}: topics must be distinct")
    return topics


def parse_flag(name: str, text: str) -> bool:
    """A boolean launch argument: true/false or 1/0 (any case); anything else is an error, never silently false."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise LaunchArgumentError(f"{name}:={text!r}: expected true or false")


def check_namespace(text: str) -> str:
    """The namespace argument (relative ones are taken from the root, as launch_ros does); '' for none."""
    text = text.strip()
    if not text:
        return ""
    try:
        validate_namespace("/" + text.lstrip("/"))
    except InvalidNamespaceException as error:
        raise LaunchArgumentError(f"namespace:={text!r} is not a valid ROS namespace: {_reason(error)}") from None
    return text


def check_params_file(text: str, name: str = "params_file") -> str:
    """A params_file / registration_file argument, checked to be a YAML file of ``node: {ros__parameters: ...}``."""
    path = Path(text.strip()).expanduser()
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "does not exist"
        raise LaunchArgumentError(f"{name}:={text!r}: {problem}")
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise LaunchArgumentError(f"{name}:={text!r}: cannot read ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise LaunchArgumentError(f"{name}:={text!r}: not valid YAML ({' '.join(str(error).split())})") from None
    if not isinstance(document, dict) or not any(
        isinstance(entry, dict) and "ros__parameters" in entry for entry in document.values()
    ):
        raise LaunchArgumentError(
            f"{name}:={text!r}: expected a ROS 2 parameter file (node name, e.g. '/**', then ros__parameters)"
        )
    return str(path)


def parse_view_source(text: str) -> str | None:
    """The ``view_source:=...`` argument: cameras or temporal; None when empty (keep the params file's)."""
    text = text.strip()
    if text and text not in VIEW_SOURCES:
        raise LaunchArgumentError(f"view_source:={text!r}: expected {' or '.join(VIEW_SOURCES)}")
    return text or None


def params_file_value(paths: list[str], name: str) -> Any:
    """The value checked params files give parameter ``name`` (a later file, or entry, wins); the node's default if
    none sets it."""
    value = SPECS[name].default
    for path in paths:
        for entry in yaml.safe_load(Path(path).read_text()).values():
            if isinstance(entry, dict) and isinstance(entry.get("ros__parameters"), dict):
                value = entry["ros__parameters"].get(name, value)
    return value


def check_view_source(view_source: str, camera_topics: list[str]) -> None:
    """The temporal view source fuses the frames of one camera: more camera topics are a one-line error."""
    if view_source == "temporal" and len(camera_topics) != 1:
        raise LaunchArgumentError(
            f"view_source:=temporal fuses the frames of one camera, but camera_topics names {len(camera_topics)} "
            f"({', '.join(camera_topics)}): pass one, e.g. camera_topics:=/camera/image_raw"
        )


def node_exit_problem(name: str, returncode: int | None) -> str | None:
    """Why the launch must fail when the node process ended with ``returncode``; None after a clean exit."""
    if returncode == 0:
        return None
    how = f"was killed by signal {-returncode}" if returncode is not None and returncode < 0 else "exited"
    return f"{name} {how} (exit status {returncode}); its log above says why"
