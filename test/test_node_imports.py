"""The node's modules import without torch or the model core: those load only with the model, at start-up
(and only the backend's runtime is used per set), so importing the node stays light. The core modules they may
import are the ROS-free image codec, the framing, the frame selection and the compositing (numpy and OpenCV only),
shared with the training datasets and the evaluation."""

from __future__ import annotations

import subprocess
import sys

NODE_MODULES = (
    "fusionvae_ros.fusion_node",
    "fusionvae_ros.pipeline",
    "fusionvae_ros.sync",
    "fusionvae_ros.temporal",
    "fusionvae_ros.noise_seed",
)
LIGHT_CORE_MODULES = (
    "('fusionvae_core', 'fusionvae_core.image_codec', 'fusionvae_core.data', 'fusionvae_core.data.framing', "
    "'fusionvae_core.frame_selection', 'fusionvae_core.compositing')"
)


def test_node_modules_import_neither_torch_nor_the_core():
    code = (
        f"import sys\nimport {', '.join(NODE_MODULES)}\n"
        "heavy = (m for m in sys.modules if m.split('.')[0] in ('torch', 'fusionvae_core', 'onnxruntime'))\n"
        f"print(sorted(m for m in heavy if m not in {LIGHT_CORE_MODULES}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"imported at module import time: {done.stdout}"


def test_the_pipeline_imports_no_ros():
    """fusionvae_ros.pipeline is ROS-free: the node and the bag tools adapt it, messages come in duck-typed."""
    code = (
        "import sys, fusionvae_ros.pipeline\n"
        "ros = ('rclpy', 'rcl_interfaces', 'sensor_msgs', 'std_msgs', 'builtin_interfaces', 'diagnostic_msgs')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ros + ('torch',)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"imported by the pipeline: {done.stdout}"
