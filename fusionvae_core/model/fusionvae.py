"""FusionVAE (Duffhauss et al.): a hierarchical conditional VAE that fuses K in 0..3 views into target images.

The shared encoder turns views and target into per-group features; the top-down generator starts from a trainable
tensor h and, group by group (coarse -> fine), forms the conditional prior from the aggregated view features and
its own state, samples z (from the posterior in training, from the prior when sampling) and merges it into the
state; postprocessing cells and an output conv give the likelihood parameters. With `visibility_head`, a small
head on the shared encoder predicts per view and pixel whether the view shows the scene (model/visibility.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fusionvae_core.config import ModelConfig
from fusionvae_core.model.cells import DecoderCell, to_channels_last
from fusionvae_core.model.distributions import Normal
from fusionvae_core.model.encoder import Encoder
from fusionvae_core.model.inputs import check_images, check_views, repeat_rows
from fusionvae_core.model.latent import LatentGroup
from fusionvae_core.model.likelihoods import make_likelihood
from fusionvae_core.model.regularization import attach_power_iteration_buffers, batchnorm_penalty, spectral_penalty
from fusionvae_core.model.visibility import make_visibility_head, visibility_loss
from fusionvae_core.objective import fusion_loss


@dataclass
class FusionOutput:
    """Result of `FusionVAE.forward` (all per-example tensors in nats).

    loss: scalar to minimise, mean_b(recon_nll + β Σ_l α_l KL_l); recon_nll [B]; kl_per_group [B, L] (≥ 0, coarse
    -> fine); elbo [B] = −recon_nll − Σ_l KL_l (analytic KL); log_q [B], log_p [B]: log-densities of the sampled z
    under posterior and prior; log_weight [B] = −recon_nll + log_p − log_q, the single-sample importance log-weight
    (an unbiased estimate of the ELBO); likelihood_params [B, P, H, W]; mean_image [B, C, H, W] in [0, 1]; beta;
    visibility_bce [B]: the visibility head's BCE against the given labels (None without head or labels), whose
    weighted mean is part of `loss`.
    """

    loss: torch.Tensor
    recon_nll: torch.Tensor
    kl_per_group: torch.Tensor
    elbo: torch.Tensor
    log_q: torch.Tensor
    log_p: torch.Tensor
    log_weight: torch.Tensor
    likelihood_params: torch.Tensor
    mean_image: torch.Tensor
    beta: float
    visibility_bce: torch.Tensor | None = None


@dataclass
class _TopDownResult:
    """Likelihood parameters plus, in posterior mode, the per-group KLs and summed log-densities of z."""

    params: torch.Tensor
    kl_per_group: torch.Tensor | None = None
    log_q: torch.Tensor | None = None
    log_p: torch.Tensor | None = None


class FusionVAE(nn.Module):
    """Hierarchical conditional VAE p(y | x) over a set of K views x (K in 0..max_views) and a target image y.

    Images are float tensors in [0, 1]: views [B, K, C, H, W], targets [B, C, H, W]. In eval mode the output is
    invariant to the order of the views. The layers work in either memory format; `channels_last()` switches the
    weights to the one that trains faster on CPU (the inputs need no conversion).
    """

    group_sizes: torch.Tensor  # KL-balancing size of every group [L]: its spatial area / groups at its scale

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"FusionVAE expects a ModelConfig, got {type(config).__name__}")
        self.config = cfg = config
        self.encoder = Encoder(cfg)
        self._group_scales = cfg.group_scales()
        self.h = nn.Parameter(torch.rand(1, cfg.scale_channels(0), cfg.scale_resolution(0), cfg.scale_resolution(0)))
        self.groups = nn.ModuleList()
        for index, scale in enumerate(self._group_scales):
            channels = cfg.scale_channels(scale)
            cells: list[nn.Module] = []
            if index > 0 and scale != self._group_scales[index - 1]:
                cells.append(self._decoder_cell(cfg.scale_channels(scale - 1), channels, upsample=True))
            if index > 0:
                cells.extend(self._decoder_cell(channels, channels) for _ in range(cfg.cells_per_group))
            self.groups.append(
                LatentGroup(
                    channels,
                    cfg.latent_channels,
                    first=index == 0,
                    cells=cells,
                    aggregation=cfg.aggregation,
                    mode=cfg.aggregation_mode,
                    posterior_uses_views=cfg.posterior == "xy",
                )
            )
        channels = cfg.scale_channels(cfg.num_scales - 1)
        post: list[nn.Module] = []
        for _ in range(cfg.num_postprocess_blocks):
            post.append(self._decoder_cell(channels, channels // 2, upsample=True))
            channels //= 2
            post.extend(self._decoder_cell(channels, channels) for _ in range(cfg.num_postprocess_cells - 1))
        self.postprocess = nn.Sequential(*post)
        self.likelihood = make_likelihood(cfg.likelihood, cfg.channels, cfg.num_mixtures)
        self.output = nn.Sequential(nn.ELU(), nn.Conv2d(channels, self.likelihood.num_params, 3, padding=1))
        self.visibility_head = make_visibility_head(cfg, cfg.scale_channels(cfg.num_scales - 1))
        attach_power_iteration_buffers(self)
        sizes = [cfg.scale_resolution(s) ** 2 / cfg.groups_at_scale(s) for s in self._group_scales]
        self.register_buffer("group_sizes", torch.tensor(sizes), persistent=False)

    def _decoder_cell(self, in_channels: int, out_channels: int, *, upsample: bool = False) -> DecoderCell:
        """Decoder cell with the config's expansion, SE and residual-scale settings."""
        cfg = self.config
        return DecoderCell(
            in_channels,
            out_channels,
            upsample=upsample,
            expansion=cfg.decoder_expansion,
            use_se=cfg.use_se,
            scale=cfg.residual_scale,
        )

    def channels_last(self) -> FusionVAE:
        """Store the weights channels_last (NHWC), which makes CPU training ~1.6x faster; returns self."""
        return to_channels_last(self)

    # ------------------------------------------------------------------------------------------- public API
    def latent_shapes(self) -> list[tuple[int, int, int]]:
        """(channels, height, width) of every latent group, coarse -> fine (the order of the noise lists)."""
        cfg = self.config
        return [(cfg.latent_channels, cfg.scale_resolution(s), cfg.scale_resolution(s)) for s in self._group_scales]

    @property
    def has_visibility_head(self) -> bool:
        """Whether the model predicts per-view visibility (`predict_visibility`, the export's extra output)."""
        return self.visibility_head is not None

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def regularization_loss(self) -> torch.Tensor:
        """NVAE regulariser: Σ conv spectral norms (one power iteration each) + Σ max |BN γ|; training adds λ·this."""
        return spectral_penalty(self) + batchnorm_penalty(self)

    def draw_noise(self, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Standard-normal noise for every latent group: list of [batch_size, C, h, w] on the model's device."""
        device = self.h.device
        return [torch.randn(batch_size, *shape, generator=generator, device=device) for shape in self.latent_shapes()]

    def forward(
        self,
        views: torch.Tensor,
        target: torch.Tensor,
        progress: float = 1.0,
        noise: Sequence[torch.Tensor] | None = None,
        visibility: torch.Tensor | None = None,
    ) -> FusionOutput:
        """Training pass: posterior samples of z given the target, the loss of eq. 8 and its parts.

        `progress` in [0, 1] is the fraction of training done (drives the β warm-up and KL balancing); `noise`
        optionally fixes the posterior's standard-normal draws (list of [B, C, h, w] per group, see `latent_shapes`);
        `visibility` [B, K, H, W] labels add the visibility head's weighted BCE to the loss.
        """
        batch, _ = self._check_views(views)
        self._check_images(target, "target", batch)
        noise = self._checked_noise(noise, batch) if noise is not None else self.draw_noise(batch)
        result, view_features = self._posterior_pass(views, target, noise)
        assert result.kl_per_group is not None and result.log_q is not None and result.log_p is not None
        recon_nll = self.likelihood.nll(result.params, target)
        loss, beta = fusion_loss(
            recon_nll,
            result.kl_per_group,
            self.group_sizes,
            progress=progress,
            warmup_fraction=self.config.kl_warmup_fraction,
            kl_balance=self.config.kl_balance,
        )
        bce = visibility_loss(self.visibility_head, views, view_features, visibility)
        if bce is not None:
            loss = loss + self.config.visibility_weight * bce.mean()
        return FusionOutput(
            loss=loss,
            recon_nll=recon_nll,
            kl_per_group=result.kl_per_group,
            elbo=-recon_nll - result.kl_per_group.sum(dim=1),
            log_q=result.log_q,
            log_p=result.log_p,
            log_weight=-recon_nll + result.log_p - result.log_q,
            likelihood_params=result.params,
            mean_image=self.likelihood.mean(result.params),
            beta=beta,
            visibility_bce=bce,
        )

    def importance_log_weights(
        self, views: torch.Tensor, target: torch.Tensor, noise: Sequence[torch.Tensor], border: int = 0
    ) -> torch.Tensor:
        """Importance log-weights log p(y|z) + log p(z|x) − log q(z|y) [B, S] for S posterior samples per example.

        `noise` holds one standard-normal tensor [B·S, C, h, w] per latent group, row b·S + s for example b,
        sample s. The images are encoded once and the features shared by the S samples. With S = 1 this equals
        `FusionOutput.log_weight` for the same noise. `border` > 0 scores only the image inside that many pixels
        from each edge (NVAE scores MNIST on the 28×28 digit inside the 2-px padding).
        """
        batch, _ = self._check_views(views)
        self._check_images(target, "target", batch)
        noise = self._checked_noise(noise, None)
        num_samples = noise[0].shape[0] // batch
        if noise[0].shape[0] != batch * num_samples:
            raise ValueError(f"FusionVAE: noise rows ({noise[0].shape[0]}) must be a multiple of the batch ({batch})")
        result, _ = self._posterior_pass(views, target, noise)
        assert result.log_q is not None and result.log_p is not None
        recon_nll = self.likelihood.nll(result.params, repeat_rows(target, num_samples), border)
        return (-recon_nll + result.log_p - result.log_q).unflatten(0, (batch, num_samples))

    def sample(
        self,
        views: torch.Tensor,
        num_samples: int = 1,
        temperature: float = 1.0,
        noise: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Fused hypotheses [B, S, C, H, W] in [0, 1] (likelihood mean per sample) from views [B, K, C, H, W].

        Latents come from the conditional priors with σ scaled by `temperature`; K = 0 samples from the learned
        prior alone. `noise` (optional) is a list with one standard-normal tensor [B·S, C, h, w] per latent group
        (`latent_shapes`), row b·S + s belonging to example b, sample s; with it the result is deterministic.
        """
        batch, _ = self._check_views(views)
        if num_samples < 1:
            raise ValueError(f"FusionVAE.sample: num_samples must be >= 1, got {num_samples}")
        if noise is None:
            noise = self.draw_noise(batch * num_samples)
        elif noise[0].shape[0] != batch * num_samples:
            raise ValueError(
                f"FusionVAE.sample: noise has {noise[0].shape[0]} rows, expected batch·num_samples = "
                f"{batch}·{num_samples}"
            )
        return self.sample_from_noise(views, noise, temperature)

    def sample_from_noise(
        self, views: torch.Tensor, noise: Sequence[torch.Tensor], temperature: float | torch.Tensor = 1.0
    ) -> torch.Tensor:
        """Pure sampling function for export: images [B, S, C, H, W] with S = noise[0].shape[0] // B.

        No control flow depends on tensor values, so with K >= 1 it traces to a static graph with dynamic B and K
        (`temperature` may be a 0-d tensor input).
        """
        return self.sample_and_see(views, noise, temperature)[0]

    def sample_and_see(
        self, views: torch.Tensor, noise: Sequence[torch.Tensor], temperature: float | torch.Tensor = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`sample_from_noise` and, with a visibility head and K >= 1, the views' visibility [B, K, H, W] in [0, 1]
        from the same encoder pass (None otherwise): the exported graph's two outputs."""
        batch, count = self._check_views(views)
        noise = self._checked_noise(noise, None)
        total = noise[0].shape[0]
        num_samples = total // batch
        context, visibility = None, None
        if count:
            features = self.encoder(views.flatten(0, 1))
            context = [repeat_rows(f.unflatten(0, (batch, count)), num_samples) for f in features]
            if self.visibility_head is not None:
                visibility = torch.sigmoid(self.visibility_head(views, features[-1]))
        result = self._top_down(context, None, noise, temperature)
        image = self.likelihood.mean(result.params)
        return image.unflatten(0, (batch, num_samples)), visibility

    def predict_visibility(self, views: torch.Tensor) -> torch.Tensor:
        """p(view k shows the scene at each pixel) [B, K, H, W] from views [B, K, C, H, W] (needs the head)."""
        if self.visibility_head is None:
            raise ValueError("FusionVAE.predict_visibility: this model has no visibility head (visibility_head=False)")
        return torch.sigmoid(self.visibility_head(views, self.visibility_features(views)))

    def visibility_features(self, views: torch.Tensor) -> torch.Tensor:
        """The encoder features the visibility head reads, [B·K, c, h, w] of views [B, K, C, H, W] (K >= 1)."""
        self._check_views(views)
        return self.encoder(views.flatten(0, 1))[-1]

    # ----------------------------------------------------------------------------------------------- internals
    def _posterior_pass(
        self, views: torch.Tensor, target: torch.Tensor, noise: Sequence[torch.Tensor]
    ) -> tuple[_TopDownResult, torch.Tensor | None]:
        """Encode views and target once, repeat the features for the noise rows and run the posterior pass; also
        the views' finest features [B·K, c, h, w] (None for K = 0) for the visibility head."""
        batch, count = views.shape[0], views.shape[1]
        num_samples = noise[0].shape[0] // batch
        images = torch.cat([views.flatten(0, 1), target]) if count else target
        features = self.encoder(images)
        context = None
        if count:
            context = [repeat_rows(f[: batch * count].unflatten(0, (batch, count)), num_samples) for f in features]
        target_features = [repeat_rows(f[batch * count :], num_samples) for f in features]
        view_features = features[-1][: batch * count] if count else None
        return self._top_down(context, target_features, noise, 1.0), view_features

    def _top_down(
        self,
        context: list[torch.Tensor] | None,
        target_features: list[torch.Tensor] | None,
        noise: Sequence[torch.Tensor],
        temperature: float | torch.Tensor,
    ) -> _TopDownResult:
        """Generator pass over all groups: posterior mode when target features are given, else prior sampling."""
        rows = noise[0].shape[0]
        state = self.h.expand(rows, -1, -1, -1)
        kls: list[torch.Tensor] = []
        log_q = log_p = noise[0].new_zeros(rows)
        for index, group in enumerate(self.groups):
            views = context[index] if context is not None else None
            target = target_features[index] if target_features is not None else None

            def draw(prior: Normal, posterior: Normal | None, eps: torch.Tensor = noise[index]) -> torch.Tensor:
                return prior.sample(eps, temperature) if posterior is None else posterior.sample(eps)

            state, prior, posterior, z = group(state, views, target, draw)
            if posterior is not None:
                kls.append(posterior.kl_divergence(prior))
                log_q = log_q + posterior.log_prob(z)
                log_p = log_p + prior.log_prob(z)
        params = self.output(self.postprocess(state))
        if target_features is None:
            return _TopDownResult(params)
        return _TopDownResult(params, torch.stack(kls, dim=1), log_q, log_p)

    def _check_images(self, images: torch.Tensor, name: str, batch: int) -> None:
        """Raise ValueError unless `images` is a float [batch, C, H, W] tensor matching the config."""
        check_images(self.config, images, name, batch, "FusionVAE")

    def _check_views(self, views: torch.Tensor) -> tuple[int, int]:
        """Validate views [B, K, C, H, W] (float, K <= max_views) and return (B, K)."""
        return check_views(self.config, views, "FusionVAE")

    def _checked_noise(self, noise: Sequence[torch.Tensor], rows: int | None) -> list[torch.Tensor]:
        """Validate a noise list against `latent_shapes` (and `rows`, when given)."""
        shapes = self.latent_shapes()
        if len(noise) != len(shapes):
            raise ValueError(f"FusionVAE: noise needs {len(shapes)} tensors (one per latent group), got {len(noise)}")
        for index, (tensor, shape) in enumerate(zip(noise, shapes)):
            if tuple(tensor.shape[1:]) != shape or (rows is not None and tensor.shape[0] != rows):
                expected = f"[{rows if rows is not None else 'N'}, {', '.join(map(str, shape))}]"
                raise ValueError(f"FusionVAE: noise[{index}] has shape {tuple(tensor.shape)}, expected {expected}")
        return list(noise)
