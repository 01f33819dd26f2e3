"""Files shipped with the package: the default model and the Fast DDS profile for large images.

They are found in the installed share directory through the ament index (colcon / apt installs) and, when the
package is not installed (running from a source checkout), in the repository's folders of the same names.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = "fusionvae_ros"
SHIPPED_MODEL = Path("models") / "fusion_mnist" / "model.onnx"
LARGE_IMAGE_DDS_PROFILE = Path("config") / "fastdds_large_images.xml"
DDS_PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"  # read by Fast DDS when a process creates its first node


def shipped_file(relative: Path) -> Path:
    """``relative`` (e.g. SHIPPED_MODEL) under the installed share directory, else under the source tree."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE)) / relative
    except (ImportError, LookupError, OSError):  # not installed (or no ament index): use the source tree
        return Path(__file__).resolve().parents[1] / relative


def resolve_model_path(configured: str) -> Path:
    """The model file to load: ``configured`` if set (``~`` expanded), else the shipped model."""
    return Path(configured).expanduser() if configured else shipped_file(SHIPPED_MODEL)
