"""The managed (lifecycle) fusion node: ``ros2 run fusionvae_ros fusion_lifecycle_node`` or
``ros2 launch fusionvae_ros fuse.launch.py managed:=true``.

The same node class, parameters, topics and behaviour as fusion_node (fusion_node.FusionNode), started unconfigured:
a lifecycle manager (or ``ros2 lifecycle set``) drives it. A configure that fails (bad parameter, missing model)
logs one line and leaves the node unconfigured.
"""

from __future__ import annotations

from fusionvae_ros.fusion_node import run_node


def main(args: list[str] | None = None) -> None:
    """Entry point of ``ros2 run fusionvae_ros fusion_lifecycle_node``; starts unconfigured."""
    run_node(managed=True, args=args)


if __name__ == "__main__":
    main()
