"""Training of FusionVAE and the baselines: YAML configs, the DDP-ready loop, guards, schedules and resumable state.

    from fusionvae_core.training import RunOptions, load_config, run_training
    result = run_training(load_config("training/configs/tiny.yaml"), RunOptions(Path("runs/tiny")))

`training/train.py` is the command-line front end (and the torchrun entry point).
"""

from fusionvae_core.training.config import MODEL_KINDS, ConfigError, TrainConfig, config_differences, load_config
from fusionvae_core.training.loop import CHECKPOINT_FILE, RunOptions, RunResult, run_training
from fusionvae_core.training.models import TrainedModel, build_model, load_trained_model, model_from_checkpoint

__all__ = [
    "CHECKPOINT_FILE",
    "MODEL_KINDS",
    "ConfigError",
    "RunOptions",
    "RunResult",
    "TrainConfig",
    "TrainedModel",
    "build_model",
    "config_differences",
    "load_config",
    "load_trained_model",
    "model_from_checkpoint",
    "run_training",
]
