"""fusionvae_core: the FusionVAE model, its objective, metrics, data and inference backends (no ROS imports).

The model names are resolved on first use, so `fusionvae_core.inference` with ONNX Runtime never loads torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fusionvae_core.config import ModelConfig
    from fusionvae_core.model import FusionOutput, FusionVAE

__all__ = ["FusionOutput", "FusionVAE", "ModelConfig"]
_HOMES = {
    "ModelConfig": "fusionvae_core.config",
    "FusionVAE": "fusionvae_core.model",
    "FusionOutput": "fusionvae_core.model",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first used (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'fusionvae_core' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
