"""A tiny FusionVAE whose visibility head has learnt window labels (views black outside a window, targets never
black), trained once per test run and exported with compositing on: for the head, export and compositing tests."""

from __future__ import annotations

import functools

import torch
from inference_helpers import ExportedModel, scratch_dir

from fusionvae_core import FusionVAE, ModelConfig
from fusionvae_core.checkpoint import save_checkpoint
from fusionvae_core.export import export_onnx

TRAINING_STEPS = 150


def windowed_batch(batch: int, count: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Views [B,K,1,H,W] black outside one random half-size window each, targets [B,1,H,W] in [0.3, 1] (never
    black) and the window labels [B,K,H,W]."""
    generator = torch.Generator().manual_seed(seed)
    target = 0.3 + 0.7 * torch.rand(batch, 1, size, size, generator=generator)
    labels = torch.zeros(batch, count, size, size)
    for b in range(batch):
        for k in range(count):
            top, left = torch.randint(0, size // 2, (2,), generator=generator).tolist()
            labels[b, k, top : top + size // 2, left : left + size // 2] = 1.0
    return target.unsqueeze(1) * labels.unsqueeze(2), target, labels


@functools.cache
def trained_visibility_model() -> ExportedModel:
    """The tiny preset with a visibility head after TRAINING_STEPS Adam steps on windowed batches (K = 1..3), in
    eval mode, saved as a checkpoint recommending compositing and exported to ONNX with that recommendation."""
    torch.manual_seed(2)
    config = ModelConfig.preset("tiny", visibility_head=True)
    model = FusionVAE(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(TRAINING_STEPS):
        views, target, labels = windowed_batch(8, 1 + step % 3, config.image_size, seed=100 + step)
        loss = model(views, target, progress=1.0, visibility=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    folder = scratch_dir("visibility_model")
    checkpoint = save_checkpoint(
        folder / "checkpoint.pt",
        model_kind="fusionvae",
        model_config=config.to_dict(),
        state_dict=model.state_dict(),
        meta={"compositing": True},
    )
    export_onnx(model, folder / "model.onnx", compositing=True)
    return ExportedModel(model, checkpoint, folder / "model.onnx")
