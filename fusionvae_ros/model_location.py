"""Where the node's model file is: the configured path, else the model shipped with the package.

The shipped model is found in the installed share directory through the ament index (colcon / apt installs)
and, when the package is not installed (running from a source checkout), in the repository's models/ folder.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = "fusionvae_ros"
SHIPPED_MODEL = Path("models") / "fusion_mnist" / "model.onnx"


def resolve_model_path(configured: str) -> Path:
    """The model file to load: ``configured`` if set (``~`` expanded), else the shipped model."""
    if configured:
        return Path(configured).expanduser()
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE)) / SHIPPED_MODEL
    except (ImportError, LookupError, OSError):  # not installed (or no ament index): use the source tree
        return Path(__file__).resolve().parents[1] / SHIPPED_MODEL
