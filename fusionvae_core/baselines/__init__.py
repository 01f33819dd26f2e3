"""Baselines of the paper's comparison (sec. 5.3) and non-learned references.

from fusionvae_core.baselines import build_baseline, sized_baseline_config
model = build_baseline(sized_baseline_config("cvae_s", ModelConfig.preset("fusion_mnist")))
"""

from fusionvae_core.baselines.config import BASELINE_KINDS, BaselineConfig
from fusionvae_core.baselines.factory import Baseline, build_baseline, sized_baseline_config
from fusionvae_core.baselines.networks import ConditionalVAE, FullyConvolutionalNet
from fusionvae_core.baselines.references import REFERENCE_NAMES, ViewReference
from fusionvae_core.baselines.sizing import PARAMETER_TOLERANCE, auto_width, baseline_parameters, fusionvae_parameters

__all__ = [
    "BASELINE_KINDS",
    "PARAMETER_TOLERANCE",
    "REFERENCE_NAMES",
    "Baseline",
    "BaselineConfig",
    "ConditionalVAE",
    "FullyConvolutionalNet",
    "ViewReference",
    "auto_width",
    "baseline_parameters",
    "build_baseline",
    "fusionvae_parameters",
    "sized_baseline_config",
]
