"""run.init_from: a run starts from another run's (or a shipped model's) weights; new parts train from scratch;
weights of another architecture are one clear line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_train_helpers import checkpoint_of, quick_overrides, run_train, train_arguments, trained_parameters

from fusionvae_core.training import CHECKPOINT_FILE
from training.train import main


def test_a_run_starts_from_the_given_weights_and_adds_a_visibility_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "source"
    assert main(train_arguments(source, quick_overrides(2))) == 0
    source_checkpoint = source / CHECKPOINT_FILE
    # The fine-tuning run's only step is skipped (debug NaN), so its weights are exactly the ones it started from.
    tuned = tmp_path / "tuned"
    overrides = quick_overrides(
        1, run__init_from=source_checkpoint, debug__nan_at_steps="[0]", model__overrides__visibility_head="true"
    )
    assert main(train_arguments(tuned, overrides)) == 0
    before, after = trained_parameters(checkpoint_of(source)), trained_parameters(checkpoint_of(tuned))
    head = {name for name in after if name.startswith("visibility_head.")}
    assert head and set(after) - head == set(before)
    for name, value in before.items():
        torch.testing.assert_close(after[name], value, rtol=0, atol=0)
    assert (
        f"initialised from {source_checkpoint} (new, trained from scratch: visibility_head)" in capsys.readouterr().err
    )


def test_weights_of_another_architecture_are_one_line_and_exit_2(tmp_path: Path) -> None:
    source = tmp_path / "source"
    assert main(train_arguments(source, quick_overrides(1))) == 0
    other = run_train(
        *train_arguments(
            tmp_path / "other",
            quick_overrides(1, run__init_from=source / CHECKPOINT_FILE, model__preset="fusion_mnist"),
        )
    )
    assert other.returncode == 2, other.stderr
    lines = [line for line in other.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "run.init_from" in lines[0] and "do not fit this model" in lines[0], other.stderr
    assert not (tmp_path / "other" / CHECKPOINT_FILE).exists()
