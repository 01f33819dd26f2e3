"""Start-up failures of the real node process: a missing or corrupt model file, bad parameters or a missing
params file end the process with exit code 2 and one clear log line naming the problem, never a traceback; and
Ctrl-C, even repeated, ends it cleanly."""

from __future__ import annotations

import signal
import time

import pytest
from ros_helpers import FUSION_NODE_COMMAND, LIFECYCLE_NODE_COMMAND, NodeProcess, node_test_model, unique_domain_id

pytestmark = pytest.mark.ros

EXIT_STARTUP_ERROR = 2


def start_and_fail(parameters: dict[str, object], tmp_path) -> str:
    """Run the node with ``parameters``; assert it exits 2 with one line of output; return that line."""
    node = NodeProcess(parameters, unique_domain_id(), tmp_path)
    try:
        code = node.wait(timeout=600)
    finally:
        node.stop()
    output = node.output()
    assert code == EXIT_STARTUP_ERROR, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "[FATAL]" in lines[0]
    return lines[0]


def test_missing_model_file_names_the_file(tmp_path):
    missing = tmp_path / "no_such_model.onnx"
    line = start_and_fail({"model_path": str(missing)}, tmp_path)
    assert str(missing) in line and "file not found" in line


def test_model_path_that_is_a_folder_is_refused(tmp_path):
    line = start_and_fail({"model_path": str(tmp_path)}, tmp_path)
    assert str(tmp_path) in line and "not a regular file" in line


def test_corrupt_model_file_names_the_file_and_backend(tmp_path):
    node_test_model()  # skips with the reason while the ONNX Runtime backend is not available
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not an ONNX protobuf" * 10)
    line = start_and_fail({"model_path": str(corrupt)}, tmp_path)
    assert f"cannot load model '{corrupt}' with backend onnxruntime" in line


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"camera_topics": ["a", "b", "c", "d"]}, "camera_topics"),
        ({"camera_topics": ["a", "a"]}, "distinct"),
        ({"backend": "caffe"}, "backend"),
        ({"resize_mode": "stretch"}, "resize_mode"),
        ({"slop": 5.0}, "slop"),
        ({"num_hypotheses": 0}, "num_hypotheses"),
        ({"input_transport": "theora"}, "input_transport"),
        ({"homography_1": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]}, "homography_1: expected 9 values"),
        ({"homography_2": [0.0] * 9}, "homography_2"),
        ({"view_source": "temporal"}, "view_source temporal fuses the frames of one camera; name exactly one topic"),
    ],
    ids=[
        "four_cameras",
        "duplicate_topics",
        "unknown_backend",
        "unknown_resize_mode",
        "slop_range",
        "zero_hypotheses",
        "unknown_transport",
        "short_homography",
        "singular_homography",
        "temporal_with_three_cameras",
    ],
)
def test_bad_parameters_are_named(parameters, expected, tmp_path):
    line = start_and_fail({**parameters, "model_path": str(tmp_path / "unused.onnx")}, tmp_path)
    assert expected in line


@pytest.mark.parametrize("node_command", [FUSION_NODE_COMMAND, LIFECYCLE_NODE_COMMAND], ids=["plain", "managed"])
def test_a_missing_params_file_is_one_fatal_line_not_an_rcl_traceback(node_command, tmp_path):
    missing = tmp_path / "missing.yaml"
    command = (*node_command, "--ros-args", "--params-file", str(missing))
    node = NodeProcess({}, unique_domain_id(), tmp_path, command)
    try:
        code = node.wait(timeout=600)
    finally:
        node.stop()
    output = node.output()
    assert code == EXIT_STARTUP_ERROR and "Traceback" not in output, output
    fatal = [line for line in output.splitlines() if "[FATAL]" in line]
    assert len(fatal) == 1 and "cannot start" in fatal[0] and str(missing) in fatal[0], output


def test_repeated_interrupts_end_the_node_cleanly(tmp_path):
    node = NodeProcess({"model_path": str(node_test_model().path)}, unique_domain_id(), tmp_path)
    try:
        deadline = time.monotonic() + 120
        while "fusing 3 camera(s)" not in node.output():  # the node logs this once it is up
            assert node.alive() and time.monotonic() < deadline, node.output()
            time.sleep(0.05)
        while node.alive() and time.monotonic() < deadline:  # Ctrl-C, then more while it shuts down
            node.process.send_signal(signal.SIGINT)
            time.sleep(0.01)
        code = node.wait(timeout=30)
    finally:
        node.stop()
    output = node.output()
    assert code == 0, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
