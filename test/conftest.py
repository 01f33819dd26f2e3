"""Shared pytest fixtures: small structured image batches for model tests (no ROS, no files), and the fusion node
with the test model in its own process for the live node tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from ros_helpers import LiveNode, start_live_node


def structured_images(count: int, size: int, channels: int, generator: torch.Generator) -> torch.Tensor:
    """Synthetic images [count, channels, size, size] in [0, 1]: a bright rectangle plus a fainter diagonal stripe."""
    coords = torch.arange(size, dtype=torch.float32)
    rows, cols = coords[:, None], coords[None, :]
    images = torch.zeros(count, channels, size, size)
    for index in range(count):
        top, left = torch.randint(0, size // 2, (2,), generator=generator).tolist()
        height, width = torch.randint(size // 4, size // 2 + 1, (2,), generator=generator).tolist()
        rectangle = ((rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)).float()
        offset = int(torch.randint(-size // 2, size // 2, (1,), generator=generator))
        stripe = ((rows - cols - offset).abs() <= 1).float() * 0.5
        shade = 0.6 + 0.4 * torch.rand(channels, 1, 1, generator=generator)
        images[index] = torch.clamp(rectangle + stripe, 0.0, 1.0) * shade
    return images


def window_views(target: torch.Tensor, num_views: int, generator: torch.Generator) -> torch.Tensor:
    """Views [B, K, C, H, W]: copies of the targets, black except inside one random rectangular window each."""
    batch, _, size, _ = target.shape
    views = torch.zeros(batch, num_views, *target.shape[1:])
    for b in range(batch):
        for k in range(num_views):
            top, left = torch.randint(0, size // 2, (2,), generator=generator).tolist()
            span = size // 2
            views[b, k, :, top : top + span, left : left + span] = target[b, :, top : top + span, left : left + span]
    return views


@pytest.fixture
def make_batch() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """Factory (batch, num_views, size, channels, seed) -> (views [B,K,C,H,W], target [B,C,H,W]) of structured data."""

    def build(
        batch: int, num_views: int, size: int = 16, channels: int = 1, seed: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        target = structured_images(batch, size, channels, generator)
        return window_views(target, num_views, generator), target

    return build


@pytest.fixture(scope="module")
def live_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LiveNode:
    """The fusion node (the test model) in its own process, started with the test module's NODE_PARAMETERS over
    ros_helpers.live_parameters, and a harness connected to it; one per module, stopped after its last test."""
    return start_live_node(request, request.module.NODE_PARAMETERS, tmp_path_factory.mktemp("node_logs"))
