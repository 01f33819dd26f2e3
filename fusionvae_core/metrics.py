"""The paper's evaluation metrics: importance-sampled NLL in bits/dim and MSE_min over sampled hypotheses.

Both draw the noise of sample s from a generator seeded by (seed, s) only and evaluate samples in fixed-size chunks,
so a run with N + M samples repeats the first N samples bit for bit (nested sample sets); the model is evaluated
in eval mode under no_grad and its training flag restored afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from fusionvae_core.model import FusionVAE

DEFAULT_CHUNK_SIZE = 8


def sample_noise(model: FusionVAE, batch_size: int, seed: int, sample_index: int) -> list[torch.Tensor]:
    """Standard-normal noise of sample `sample_index` for a batch: one [batch_size, C, h, w] tensor per group.

    Depends only on (seed, sample_index), drawn on the CPU and moved to the model's device (reproducible anywhere).
    """
    state = np.random.SeedSequence([seed, sample_index]).generate_state(2, dtype=np.uint64)
    generator = torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))
    device = model.h.device
    return [torch.randn(batch_size, *shape, generator=generator).to(device) for shape in model.latent_shapes()]


def nll_bpd(
    model: FusionVAE,
    views: torch.Tensor,
    target: torch.Tensor,
    num_importance: int = 100,
    *,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    border: int = 0,
) -> torch.Tensor:
    """Importance-sampled −log p(y | x) per example in bits per dimension: a [B] float tensor.

    log p(y|x) ≈ logsumexp_s(log w_s) − log N with N posterior samples (weights from
    `FusionVAE.importance_log_weights`). With N = 1 it is the negative single-sample ELBO; for the Bernoulli
    likelihood on grey levels it is the continuous BCE form the paper reports, not a discrete likelihood.
    `border` > 0 scores only the pixels inside that many from each edge and divides by their number
    D = C·(H − 2·border)·(W − 2·border): NVAE's MNIST protocol (the 28×28 digit of a 32×32 padded image, D = 784).
    """
    _check_count("nll_bpd", "num_importance", num_importance)
    batch = target.shape[0]
    with evaluating(model):
        log_weights = torch.cat(
            [
                model.importance_log_weights(views, target, noise, border)[:, :valid]
                for noise, valid in _noise_chunks(model, batch, num_importance, seed, chunk_size)
            ],
            dim=1,
        )
    log_likelihood = torch.logsumexp(log_weights, dim=1) - math.log(num_importance)
    channels, height, width = target.shape[1:]
    dimensions = channels * (height - 2 * border) * (width - 2 * border)
    return -log_likelihood / (dimensions * math.log(2.0))


def mse_min(
    model: FusionVAE,
    views: torch.Tensor,
    target: torch.Tensor,
    num_samples: int = 100,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """Per-example minimum over N prior samples of the mean squared error in [0, 1] pixel units: a [B] tensor.

    The paper reports this (MSE_min) in units of 1e-2. For equal seed and chunk size the samples are nested, so
    the result never grows with `num_samples`.
    """
    _check_count("mse_min", "num_samples", num_samples)
    best = torch.full((target.shape[0],), math.inf, device=target.device)
    for images in sampled_images(model, views, num_samples, seed=seed, temperature=temperature, chunk_size=chunk_size):
        errors = (images - target.unsqueeze(1)).square().flatten(2).mean(dim=2)
        best = torch.minimum(best, errors.amin(dim=1))
    return best


def sampled_images(
    model: FusionVAE,
    views: torch.Tensor,
    num_samples: int,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[torch.Tensor]:
    """The prior samples [B, n, C, H, W] of views [B, K, C, H, W], chunk by chunk (n <= chunk_size, N in all): the
    hypotheses MSE_min scores, nested as the module docstring says."""
    _check_count("sampled_images", "num_samples", num_samples)
    with evaluating(model):
        for noise, valid in _noise_chunks(model, views.shape[0], num_samples, seed, chunk_size):
            yield model.sample_from_noise(views, noise, temperature)[:, :valid]


@contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no_grad for the duration, restoring the model's training flag afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _noise_chunks(
    model: FusionVAE, batch: int, count: int, seed: int, chunk_size: int
) -> Iterator[tuple[list[torch.Tensor], int]]:
    """Noise for samples in chunks of exactly `chunk_size` (rows b·chunk + s) and how many of them are wanted.

    The last chunk is filled up with the following sample indices, so every sample is always computed inside the
    same chunk with the same inputs, whatever the total count.
    """
    _check_count("metrics", "chunk_size", chunk_size)
    for start in range(0, count, chunk_size):
        per_sample = [sample_noise(model, batch, seed, start + s) for s in range(chunk_size)]
        noise = [torch.stack(group, dim=1).flatten(0, 1) for group in zip(*per_sample)]
        yield noise, min(chunk_size, count - start)


def _check_count(function: str, name: str, value: int) -> None:
    """Raise ValueError unless `value` is a positive int."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{function}: {name} must be a positive int, got {value!r}")
