"""fusionvae_core: the FusionVAE model, its objective, metrics, data and inference backends (no ROS imports)."""

from fusionvae_core.config import ModelConfig
from fusionvae_core.model import FusionOutput, FusionVAE

__all__ = ["FusionOutput", "FusionVAE", "ModelConfig"]
