"""FusionVAE network: cells, latent distributions, view aggregation, likelihoods and the full model."""

from fusionvae_core.model.fusionvae import FusionOutput, FusionVAE

__all__ = ["FusionOutput", "FusionVAE"]
