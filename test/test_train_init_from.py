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


def test_train_only_the_visibility_head_leaves_the_trained_model_as_it_was(tmp_path: Path) -> None:
    source = tmp_path / "source"
    assert main(train_arguments(source, quick_overrides(2))) == 0
    head_run = tmp_path / "head"
    overrides = quick_overrides(
        6,
        run__init_from=source / CHECKPOINT_FILE,
        run__train_only="visibility_head",
        model__overrides__visibility_head="true",
    )
    assert main(train_arguments(head_run, overrides)) == 0
    before, after = checkpoint_of(source)["state_dict"], checkpoint_of(head_run)["state_dict"]
    head = {name for name in after if name.startswith("visibility_head.")}
    for name, value in before.items():  # weights and BatchNorm statistics alike
        torch.testing.assert_close(after[name], value, rtol=0, atol=0, msg=name)
    untrained_run = tmp_path / "untrained"  # the same run with every update skipped: the head as initialised
    assert main(train_arguments(untrained_run, [*overrides, "debug.nan_at_steps=[0,1,2,3,4,5]"])) == 0
    trained, untrained = trained_parameters(checkpoint_of(head_run)), trained_parameters(checkpoint_of(untrained_run))
    assert {name for name in trained if not torch.equal(trained[name], untrained[name])} <= head
    assert any(not torch.equal(trained[name], untrained[name]) for name in head if name in trained)
    optimised = checkpoint_of(head_run)["train_state"]["optimizer"]["param_groups"][0]["params"]
    assert len(optimised) == len([name for name in trained if name in head]), "only the head is optimised"
    metrics = [line for line in (head_run / "metrics.jsonl").read_text().splitlines() if line]
    assert len(metrics) == 6 and all('"visibility_bce"' in line or '"k": 0' in line for line in metrics)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"run__train_only": "visibility_head"}, "set run.init_from"),
        ({"run__train_only": "decoder", "run__init_from": "x.pt"}, "expected one of visibility_head"),
    ],
)
def test_train_only_needs_a_trained_model_with_the_head(tmp_path: Path, overrides: dict, message: str) -> None:
    result = run_train(*train_arguments(tmp_path / "run", quick_overrides(1, **overrides)))
    assert result.returncode == 2 and message in result.stderr, result.stderr
