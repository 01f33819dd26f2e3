"""The managed (lifecycle) fusion node: ``ros2 run fusionvae_ros fusion_lifecycle_node`` or
``ros2 launch fusionvae_ros fuse.launch.py managed:=true``.

Same parameters, topics and behaviour as fusion_node, driven by the ROS 2 lifecycle (rclpy.lifecycle):
configure reads the parameters, loads the model and creates the (lifecycle) publishers; activate subscribes to the
cameras and starts the timers; deactivate unsubscribes (no outputs while inactive); cleanup releases the model.
A configure that fails (bad parameter, missing model) logs one line and leaves the node unconfigured.
"""

from __future__ import annotations

from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from fusionvae_ros.fusion_node import FusionCore, StartupError, run_node
from fusionvae_ros.params import SettingsError

LIFECYCLE_NODE_NAME = "fusion_node"  # the same name: the params file and the topics are shared


class LifecycleFusionNode(FusionCore, LifecycleNode):
    """FusionCore with its stages run by lifecycle transitions."""

    def __init__(self) -> None:
        super().__init__(LIFECYCLE_NODE_NAME)
        self._declare()

    def _create_output_publisher(self, msg_type: type, topic: str, depth: int) -> Any:
        """Lifecycle publishers: they publish only while the node is active."""
        return self.create_lifecycle_publisher(msg_type, topic, depth)

    def _destroy_output_publisher(self, publisher: Any) -> None:
        self.destroy_lifecycle_publisher(publisher)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the parameters, load the model, create the publishers; FAILURE (one log line) if that fails."""
        try:
            self._configure()
        except (StartupError, SettingsError) as error:
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Enable the publishers, then subscribe and start the timers."""
        result = super().on_activate(state)
        self._activate()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop the timers, then disable the publishers."""
        self._deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the worker, destroy the publishers and release the model."""
        self._cleanup()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Leave cleanly from any state: stop input and the worker."""
        if self.configured:
            if self._inputs:
                self._deactivate()
            self._cleanup()
        return super().on_shutdown(state)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``ros2 run fusionvae_ros fusion_lifecycle_node``; starts unconfigured."""
    run_node(LifecycleFusionNode, args)


if __name__ == "__main__":
    main()
