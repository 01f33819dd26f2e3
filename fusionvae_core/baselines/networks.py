"""The paper's comparison networks (sec. 5.3): FCN, FCN+S, CVAE and CVAE+S with a shared encoder and max fusion.

All four encode views (and, for the CVAE, the target) with one shared `PyramidEncoder`, fuse the views by
pixel-wise max before the bottleneck (the +S variants also at every skip connection) and decode with a
`PyramidDecoder` into the same likelihood as FusionVAE. With K = 0 a trainable tensor h stands in for the fused
bottleneck features and the +S skips are left out. Both return `FusionOutput`, so one training loop serves all.
With the preset's `visibility_head`, the same visibility head as FusionVAE's sits on the encoder level of
FusionVAE's finest latent resolution, so both are composited alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from fusionvae_core.baselines.config import BaselineConfig
from fusionvae_core.baselines.pyramid import PyramidDecoder, PyramidEncoder, fuse_views, level_channels, pyramid_levels
from fusionvae_core.model import FusionOutput
from fusionvae_core.model.distributions import Normal
from fusionvae_core.model.inputs import check_images, check_views, repeat_rows
from fusionvae_core.model.latent import GaussianHead
from fusionvae_core.model.likelihoods import make_likelihood
from fusionvae_core.model.regularization import attach_power_iteration_buffers, batchnorm_penalty, spectral_penalty
from fusionvae_core.model.visibility import make_visibility_head, visibility_loss
from fusionvae_core.objective import fusion_loss


class Encoded(NamedTuple):
    """What the shared encoder gives a baseline: the fused bottleneck context [B, c, h, w] (h when K = 0), the fused
    skips (+S and K >= 1), the target's bottleneck features and the views' features for the visibility head."""

    context: torch.Tensor
    skips: list[torch.Tensor] | None
    target_features: torch.Tensor | None
    view_features: torch.Tensor | None


class PyramidBaseline(nn.Module):
    """Shared encoder, view fusion, decoder and likelihood of the FCN and CVAE baselines."""

    deterministic = False

    def __init__(self, config: BaselineConfig, decoder_input_channels: int = 0) -> None:
        super().__init__()
        self.baseline_config = config
        self.config = cfg = config.model
        self.bottleneck_channels = level_channels(config.width, pyramid_levels(cfg))
        size = cfg.scale_resolution(0)
        self.encoder = PyramidEncoder(cfg, config.width)
        # random, not zeros: constant features would give BatchNorm a zero variance and exploding gradients
        self.h = nn.Parameter(torch.rand(1, self.bottleneck_channels, size, size))
        self.likelihood = make_likelihood(cfg.likelihood, cfg.channels, cfg.num_mixtures)
        self.decoder = PyramidDecoder(cfg, config.width, self.likelihood.num_params)
        self.visibility_level = min(cfg.num_preprocess_blocks, pyramid_levels(cfg))  # FusionVAE's finest latent scale
        self.visibility_head = make_visibility_head(cfg, level_channels(config.width, self.visibility_level))

    @property
    def has_visibility_head(self) -> bool:
        """Whether the baseline predicts per-view visibility (`predict_visibility`)."""
        return self.visibility_head is not None

    def predict_visibility(self, views: torch.Tensor) -> torch.Tensor:
        """p(view k shows the scene at each pixel) [B, K, H, W] (needs the head), as FusionVAE.predict_visibility."""
        if self.visibility_head is None:
            raise ValueError(f"{type(self).__name__}.predict_visibility: this model has no visibility head")
        return torch.sigmoid(self.visibility_head(views, self.visibility_features(views)))

    def visibility_features(self, views: torch.Tensor) -> torch.Tensor:
        """The encoder features the visibility head reads, [B·K, c, h, w] of views [B, K, C, H, W] (K >= 1)."""
        features = self._encode(views, None).view_features
        assert features is not None, "visibility features need K >= 1 views"
        return features

    def _loss_with_visibility(
        self, loss: torch.Tensor, views: torch.Tensor, encoded: Encoded, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`loss` plus the weighted visibility BCE (when there are a head and labels) and that per-example BCE."""
        bce = visibility_loss(self.visibility_head, views, encoded.view_features, labels)
        return (loss if bce is None else loss + self.config.visibility_weight * bce.mean()), bce

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def regularization_loss(self) -> torch.Tensor:
        """The NVAE regulariser FusionVAE uses (Σ conv spectral norms + Σ max |BN γ|), for equal training."""
        return spectral_penalty(self) + batchnorm_penalty(self)

    def _encode(self, views: torch.Tensor, target: torch.Tensor | None) -> Encoded:
        """Encode views (and target) once: see `Encoded`."""
        batch, count = self._check_views(views)
        images = [views.flatten(0, 1)] if count else []
        if target is not None:
            self._check_target(target, batch)
            images.append(target)
        if not images:
            return Encoded(self.h.expand(batch, -1, -1, -1), None, None, None)
        features = self.encoder(torch.cat(images))
        target_features = features[-1][batch * count :] if target is not None else None
        if not count:
            return Encoded(self.h.expand(batch, -1, -1, -1), None, target_features, None)
        fused = [fuse_views(f[: batch * count], batch) for f in features]
        skips = fused[:-1] if self.baseline_config.skip_connections else None
        return Encoded(fused[-1], skips, target_features, features[self.visibility_level][: batch * count])

    def _check_views(self, views: torch.Tensor) -> tuple[int, int]:
        """Validate views [B, K, C, H, W] (float, K <= max_views) and return (B, K)."""
        return check_views(self.config, views, type(self).__name__)

    def _check_target(self, target: torch.Tensor, batch: int) -> None:
        """Raise ValueError unless target is a float [B, C, H, W] tensor matching the config."""
        check_images(self.config, target, "target", batch, type(self).__name__)


class FullyConvolutionalNet(PyramidBaseline):
    """FCN / FCN+S: a deterministic encoder-decoder trained with the likelihood's NLL; its samples are identical."""

    deterministic = True

    def __init__(self, config: BaselineConfig) -> None:
        if config.variational:
            raise ValueError(f"FullyConvolutionalNet: kind must be 'fcn' or 'fcn_s', got {config.kind!r}")
        super().__init__(config)
        attach_power_iteration_buffers(self)

    def forward(
        self, views: torch.Tensor, target: torch.Tensor, progress: float = 1.0, visibility: torch.Tensor | None = None
    ) -> FusionOutput:
        """Loss mean_b(recon_nll) (+ the visibility BCE); no latents: kl_per_group is [B, 0], elbo = −recon_nll."""
        encoded = self._encode(views, None)
        self._check_target(target, views.shape[0])
        params = self.decoder(encoded.context, encoded.skips)
        recon_nll = self.likelihood.nll(params, target)
        zeros = recon_nll.new_zeros(recon_nll.shape)
        loss, bce = self._loss_with_visibility(recon_nll.mean(), views, encoded, visibility)
        return FusionOutput(
            loss=loss,
            recon_nll=recon_nll,
            kl_per_group=recon_nll.new_zeros(recon_nll.shape[0], 0),
            elbo=-recon_nll,
            log_q=zeros,
            log_p=zeros,
            log_weight=-recon_nll,
            likelihood_params=params,
            mean_image=self.likelihood.mean(params),
            beta=0.0,
            visibility_bce=bce,
        )

    def predict(self, views: torch.Tensor) -> torch.Tensor:
        """The single deterministic prediction [B, C, H, W] in [0, 1] (the likelihood mean)."""
        encoded = self._encode(views, None)
        return self.likelihood.mean(self.decoder(encoded.context, encoded.skips))

    def sample(self, views: torch.Tensor, num_samples: int = 1, temperature: float = 1.0) -> torch.Tensor:
        """`num_samples` copies of the prediction, [B, S, C, H, W] (same interface as FusionVAE.sample)."""
        if num_samples < 1:
            raise ValueError(f"FullyConvolutionalNet.sample: num_samples must be >= 1, got {num_samples}")
        prediction = self.predict(views)
        return prediction.unsqueeze(1).expand(-1, num_samples, -1, -1, -1)


class ConditionalVAE(PyramidBaseline):
    """CVAE / CVAE+S (Sohn et al.) with one latent group at the bottleneck: prior p(z|x), posterior q(z|x,y).

    p(z|x) comes from the fused view features (N(0, I) when K = 0); q(z|x,y) from the target's bottleneck
    features plus the fused context; the decoder sees conv1x1([context, z]). Loss: eq. 8 with one group.
    """

    group_sizes: torch.Tensor  # KL-balancing size of the single group (its area), as FusionVAE's

    def __init__(self, config: BaselineConfig) -> None:
        if not config.variational:
            raise ValueError(f"ConditionalVAE: kind must be 'cvae' or 'cvae_s', got {config.kind!r}")
        super().__init__(config)
        channels, latent = self.bottleneck_channels, self.config.latent_channels
        self.prior = GaussianHead(channels, latent, "prior")
        self.posterior = GaussianHead(channels, latent, "posterior")
        self.combiner = nn.Conv2d(channels + latent, channels, 1)
        attach_power_iteration_buffers(self)
        self.register_buffer("group_sizes", torch.tensor([float(self.h.shape[2] ** 2)]), persistent=False)

    def latent_shapes(self) -> list[tuple[int, int, int]]:
        """(channels, height, width) of the single latent group."""
        return [(self.config.latent_channels, self.h.shape[2], self.h.shape[3])]

    def draw_noise(self, batch_size: int) -> list[torch.Tensor]:
        """Standard-normal noise for the latent group: [batch_size, C, h, w] on the model's device."""
        return [torch.randn(batch_size, *self.latent_shapes()[0], device=self.h.device)]

    def forward(
        self,
        views: torch.Tensor,
        target: torch.Tensor,
        progress: float = 1.0,
        noise: Sequence[torch.Tensor] | None = None,
        visibility: torch.Tensor | None = None,
    ) -> FusionOutput:
        """Training pass with a posterior sample; loss = mean_b(recon_nll + β KL) with the warm-up of eq. 8 (+ the
        visibility BCE against `visibility` labels)."""
        encoded = self._encode(views, target)
        assert encoded.target_features is not None
        z_noise = noise[0] if noise is not None else self.draw_noise(target.shape[0])[0]
        params, kl, log_q, log_p = self._posterior_pass(
            encoded.context, encoded.skips, encoded.target_features, views.shape[1] > 0, z_noise
        )
        recon_nll = self.likelihood.nll(params, target)
        cfg = self.config
        loss, beta = fusion_loss(
            recon_nll,
            kl[:, None],
            self.group_sizes,
            progress=progress,
            warmup_fraction=cfg.kl_warmup_fraction,
            kl_balance=cfg.kl_balance,
        )
        loss, bce = self._loss_with_visibility(loss, views, encoded, visibility)
        return FusionOutput(
            loss=loss,
            recon_nll=recon_nll,
            kl_per_group=kl[:, None],
            elbo=-recon_nll - kl,
            log_q=log_q,
            log_p=log_p,
            log_weight=-recon_nll + log_p - log_q,
            likelihood_params=params,
            mean_image=self.likelihood.mean(params),
            beta=beta,
            visibility_bce=bce,
        )

    def importance_log_weights(
        self, views: torch.Tensor, target: torch.Tensor, noise: Sequence[torch.Tensor], border: int = 0
    ) -> torch.Tensor:
        """log p(y|x,z) + log p(z|x) − log q(z|x,y) [B, S] for noise [B·S, C, h, w] (rows b·S + s, as FusionVAE)."""
        context, skips, target_features, _ = self._encode(views, target)
        assert target_features is not None
        batch = target.shape[0]
        samples = noise[0].shape[0] // batch
        context, target_features, skips = (
            repeat_rows(context, samples),
            repeat_rows(target_features, samples),
            _repeat_all(skips, samples),
        )
        params, _, log_q, log_p = self._posterior_pass(context, skips, target_features, views.shape[1] > 0, noise[0])
        recon_nll = self.likelihood.nll(params, repeat_rows(target, samples), border)
        return (-recon_nll + log_p - log_q).unflatten(0, (batch, samples))

    def sample(
        self,
        views: torch.Tensor,
        num_samples: int = 1,
        temperature: float = 1.0,
        noise: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Hypotheses [B, S, C, H, W] in [0, 1] with z from the prior (σ scaled by `temperature`)."""
        if num_samples < 1:
            raise ValueError(f"ConditionalVAE.sample: num_samples must be >= 1, got {num_samples}")
        noise = noise if noise is not None else self.draw_noise(views.shape[0] * num_samples)
        return self.sample_from_noise(views, noise, temperature)

    def sample_from_noise(
        self, views: torch.Tensor, noise: Sequence[torch.Tensor], temperature: float | torch.Tensor = 1.0
    ) -> torch.Tensor:
        """Images [B, S, C, H, W] for noise [B·S, C, h, w] (rows b·S + s), as `FusionVAE.sample_from_noise`."""
        context, skips, _, _ = self._encode(views, None)
        batch = context.shape[0]
        samples = noise[0].shape[0] // batch
        context, skips = repeat_rows(context, samples), _repeat_all(skips, samples)
        z = self._prior(context, views.shape[1] > 0).sample(noise[0], temperature)
        params = self.decoder(self.combiner(torch.cat([context, z], dim=1)), skips)
        return self.likelihood.mean(params).unflatten(0, (batch, samples))

    def _prior(self, context: torch.Tensor, has_views: bool) -> Normal:
        """p(z|x): N(0, I) without views, else the Gaussian head on the fused context."""
        if not has_views:
            shape = (context.shape[0], *self.latent_shapes()[0])
            return Normal.standard(context.new_zeros(shape))
        return self.prior(context)

    def _posterior_pass(
        self,
        context: torch.Tensor,
        skips: list[torch.Tensor] | None,
        target_features: torch.Tensor,
        has_views: bool,
        noise: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Likelihood params, KL(q || p) [N], log q(z) [N] and log p(z) [N] for a posterior sample z."""
        prior = self._prior(context, has_views)
        posterior: Normal = self.posterior(target_features + context)
        z = posterior.sample(noise)
        params = self.decoder(self.combiner(torch.cat([context, z], dim=1)), skips)
        return params, posterior.kl_divergence(prior), posterior.log_prob(z), prior.log_prob(z)


def _repeat_all(tensors: list[torch.Tensor] | None, samples: int) -> list[torch.Tensor] | None:
    """`repeat_rows` applied to every tensor of an optional list."""
    return None if tensors is None else [repeat_rows(t, samples) for t in tensors]
