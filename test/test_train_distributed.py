"""DDP under torchrun: two CPU processes (gloo) train the tiny config and end with bit-identical weights.

Every rank hashes its own replica's state dict when the checkpoint is written (`rank_weight_digests`); equal
digests, equal to the hash of the saved weights, show that the replicas stayed identical although each rank drew
different batches (its own data shard, view count K and noise stream, visible in the distinct RNG states).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train_helpers import TRAIN_SCRIPT, checkpoint_of, quick_overrides, subprocess_env, train_arguments

from fusionvae_core.training.distributed import state_digest
from fusionvae_core.training.logging import read_metrics

pytestmark = pytest.mark.slow

STEPS = 3


def test_two_gloo_ranks_finish_with_identical_weights(tmp_path: Path) -> None:
    run_dir = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(TRAIN_SCRIPT)]
    command += train_arguments(run_dir, quick_overrides(STEPS), "--device", "cpu")
    env = {**subprocess_env(), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("finished at step") == 1, "only rank 0 reports"

    payload = checkpoint_of(run_dir)
    state = payload["train_state"]
    assert payload["meta"]["status"] == "finished" and state["step"] == STEPS and state["world_size"] == 2
    assert payload["meta"]["hardware"].startswith("2× CPU")
    digests = state["rank_weight_digests"]
    assert len(digests) == 2 and digests[0] == digests[1] == state_digest(payload["state_dict"])
    torch_states = [rng["torch"] for rng in state["rng"]]
    assert not torch.equal(torch_states[0], torch_states[1]), "the ranks must have run distinct noise streams"
    assert len(read_metrics(run_dir)) == STEPS
