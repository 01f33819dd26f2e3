"""ament_python build of fusionvae_ros: the ROS node, the model core and their data files."""

from glob import glob
from os.path import dirname, isfile

from setuptools import find_packages, setup

PACKAGE = "fusionvae_ros"


def tree(folder: str, pattern: str = "**/*") -> list[str]:
    """Files under a folder, for data_files (empty folders are skipped)."""
    return [p for p in glob(f"{folder}/{pattern}", recursive=True) if isfile(p)]


def grouped(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries that keep the sub-folder structure of `folder` under share/PACKAGE."""
    groups: dict[str, list[str]] = {}
    for path in tree(folder):
        groups.setdefault(f"share/{PACKAGE}/{dirname(path)}", []).append(path)
    return sorted(groups.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["fusionvae_core", "fusionvae_core.*", "fusionvae_ros", "fusionvae_ros.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *grouped("launch"),
        *grouped("config"),
        *grouped("models"),
    ],
    install_requires=["setuptools", "numpy", "pyyaml"],
    extras_require={"test": ["pytest", "hypothesis"]},
    zip_safe=True,
    maintainer="fusionvae_ros maintainers",
    maintainer_email="maintainers@fusionvae-ros.dev",
    description="FusionVAE multi-view image fusion for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "fusion_node = fusionvae_ros.fusion_node:main",
            "fusion_lifecycle_node = fusionvae_ros.lifecycle_node:main",
            "fusionvae_bag = fusionvae_ros.bag.__main__:main",
        ],
    },
)
