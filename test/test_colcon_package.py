"""The repository is a colcon-buildable ament_python package: build, install layout, and `colcon test` run.

colcon-core, colcon-ros and colcon-python-setup-py come from PyPI (requirements.txt), so this exercises the same
build a robot's workspace does (minus rosdep).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SKIP_TOP = {".git", ".venv", "build", "install", "log", "runs", "demo_output", "data", ".coord"}  # repo root only
PACKAGE = "fusionvae_ros"


def _colcon() -> str:
    colcon = Path(sys.executable).with_name("colcon")
    if not colcon.exists():
        pytest.fail(f"colcon is not installed next to {sys.executable}: run `make venv`")
    return str(colcon)


def test_package_xml_is_format3_with_ament_python_and_runtime_deps() -> None:
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == PACKAGE
    assert root.findtext("export/build_type") == "ament_python"
    exec_deps = {e.text for e in root.findall("exec_depend")}
    # Every ROS interface package the node imports must be declared, or rosdep/colcon users get import errors.
    assert {
        "rclpy",
        "sensor_msgs",
        "std_msgs",
        "diagnostic_msgs",
        "lifecycle_msgs",
        "launch",
        "launch_ros",
    } <= exec_deps


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A colcon workspace with a copy of this repository as its only package, built once."""
    ws = tmp_path_factory.mktemp("colcon_ws")

    def ignored(folder: str, names: list[str]) -> list[str]:
        skip = SKIP_TOP if Path(folder) == REPO else set()
        return [n for n in names if n in skip or n == "__pycache__"]

    shutil.copytree(REPO, ws / "src" / PACKAGE, ignore=ignored)
    env = {**os.environ, "PYTHONPATH": ""}
    run = subprocess.run(
        [_colcon(), "build", "--base-paths", "src"], cwd=ws, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, f"colcon build failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return ws


def test_colcon_build_installs_executables_and_share_files(workspace: Path) -> None:
    prefix = workspace / "install" / PACKAGE
    for script in ("fusion_node", "fusion_lifecycle_node", "fusionvae_bag"):  # setup.cfg's dir: `ros2 run` finds
        assert (prefix / "lib" / PACKAGE / script).is_file(), script
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()
    share = prefix / "share" / PACKAGE
    assert (share / "package.xml").is_file()
    assert (share / "launch" / "fuse.launch.py").is_file()
    assert (share / "config" / "fusionvae.yaml").is_file()
    assert (share / "config" / "fastdds_large_images.xml").is_file()  # fuse.launch.py's default dds_profile
    # the node's default model_path resolves here through the ament index
    assert (share / "models" / "fusion_mnist" / "model.onnx").is_file()
    site = next((prefix / "lib").glob("python3*/site-packages"))
    assert (site / "fusionvae_core" / "checkpoint.py").is_file()
    assert (site / "fusionvae_ros" / "fusion_node.py").is_file()


def test_install_setup_bash_puts_the_package_on_the_paths(workspace: Path) -> None:
    """colcon-bash (requirements.txt) writes install/setup.bash: sourcing it, as the README says, works."""
    script = (
        f"source install/setup.bash && cd / && {sys.executable} -c 'import fusionvae_ros.fusion_node' && "
        'echo "$AMENT_PREFIX_PATH"'
    )
    env = {**os.environ, "PYTHONPATH": "", "AMENT_PREFIX_PATH": ""}
    run = subprocess.run(["bash", "-c", script], cwd=workspace, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"sourcing install/setup.bash failed:\n{run.stdout}\n{run.stderr}"
    assert str(workspace / "install" / PACKAGE) in run.stdout


def test_colcon_test_runs_the_package_tests(workspace: Path) -> None:
    env = {**os.environ, "PYTHONPATH": ""}
    run = subprocess.run(
        [_colcon(), "test", "--base-paths", "src", "--pytest-args", "-k", "package_xml_is_format3"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"colcon test failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    result = subprocess.run(
        [_colcon(), "test-result", "--test-result-base", "build", "--all"],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    # colcon test-result exits non-zero when any test failed; the summary must count the test we selected.
    assert result.returncode == 0, result.stdout
    assert "1 test, 0 errors, 0 failures" in result.stdout, result.stdout
