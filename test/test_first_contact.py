"""First contact: the mistakes a new user makes with the training CLIs end in one clear line and a consistent exit
status (2 for usage errors: bad arguments, files or folders), never a traceback, and leave nothing behind."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from test_train_helpers import REPO, TINY_CONFIG, quick_overrides, train_arguments

from fusionvae_core.training import CHECKPOINT_FILE, ConfigError, load_config

CONFIGS = REPO / "training" / "configs"
USAGE = 2


def load_cli(name: str):
    """training/<name>.py as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(f"cli_{name}", REPO / "training" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train, export, evaluate = load_cli("train"), load_cli("export"), load_cli("evaluate")


def one_error_line(capsys: pytest.CaptureFixture[str], tool: str) -> str:
    """The single stderr line a failed command printed (asserted to be one line naming the tool)."""
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"{tool}: error: "), err
    assert "Traceback" not in err and "weights_only" not in err, err
    return err


def test_max_steps_from_the_command_line_replaces_the_configs_epochs():
    config = load_config(CONFIGS / "fusion_mnist.yaml", ["budget.max_steps=100"])  # the help's own example
    assert (config.budget.max_steps, config.budget.epochs) == (100, None)
    config = load_config(TINY_CONFIG, ["budget.epochs=2"])
    assert (config.budget.epochs, config.budget.max_steps) == (2, None)
    config = load_config(TINY_CONFIG, ["budget.max_steps=null", "budget.epochs=3"])
    assert (config.budget.epochs, config.budget.max_steps) == (3, None)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("budget.max_stepz=3", "--set 'budget.max_stepz=3': unknown key budget.max_stepz; valid keys in budget:"),
        ("buget.max_steps=3", "--set 'buget.max_steps=3': unknown section 'buget'"),
        ("budget.max_steps=many", "--set 'budget.max_steps=many': budget.max_steps: expected an integer or null"),
        ("max_steps=3", "--set 'max_steps=3': expected section.key=value"),
    ],
)
def test_override_mistakes_are_blamed_on_set_not_on_the_yaml(tmp_path, capsys, override, message):
    run_dir = tmp_path / "run"
    assert train.main(train_arguments(run_dir, [override])) == USAGE
    err = one_error_line(capsys, "train.py")
    assert message in err and TINY_CONFIG.name not in err
    assert not run_dir.exists()


def test_an_unwritable_run_dir_is_one_line(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    for run_dir in (Path("/proc/fusionvae_run"), tmp_path / "a_file" / "run"):
        assert train.main(train_arguments(run_dir, quick_overrides(1))) == USAGE
        assert f"--run-dir {run_dir}: cannot write" in one_error_line(capsys, "train.py")


def test_a_missing_data_root_is_called_missing_and_leaves_no_run_folder(tmp_path, capsys):
    run_dir = tmp_path / "runs" / "new"
    arguments = [*train_arguments(run_dir, quick_overrides(1)), "--data-root", str(tmp_path / "nowhere")]
    assert train.main(arguments) == USAGE
    assert f"data root {tmp_path / 'nowhere'} is missing (no such folder)" in one_error_line(capsys, "train.py")
    assert not run_dir.exists(), "a failed start leaves no empty run folder"


@pytest.mark.slow
def test_resume_removes_a_checkpoint_temp_file_a_kill_left_behind(tmp_path, capsys):
    assert train.main([*train_arguments(tmp_path, quick_overrides(2)), "--stop-at-step", "1"]) == 0
    stale = (tmp_path / CHECKPOINT_FILE).parent / f".{CHECKPOINT_FILE.name}.k1ll3d.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert train.main(["--run-dir", str(tmp_path), "--resume"]) == 0
    assert not stale.exists()
    assert "finished at step 2/2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("onnx", "message"),
    [
        ("/proc/m.onnx", "--onnx /proc/m.onnx: cannot create files in /proc"),
        ("/nonexistent_dir/sub/m.onnx", "--onnx /nonexistent_dir/sub/m.onnx: folder /nonexistent_dir does not exist"),
    ],
)
def test_export_to_an_unwritable_or_missing_folder_fails_before_exporting(tmp_path, capsys, onnx, message):
    assert export.main(["--checkpoint", str(tmp_path / "any.pt"), "--onnx", onnx]) == USAGE
    assert message in one_error_line(capsys, "export.py")
    assert not Path("/nonexistent_dir").exists(), "no folder is created for a typo"


def test_evaluate_on_an_onnx_file_says_what_it_needs(tmp_path, capsys):
    onnx = REPO / "models" / "fusion_mnist" / "model.onnx"
    if not onnx.is_file():
        pytest.skip("the shipped ONNX model is not in this checkout")
    assert evaluate.main(["--checkpoint", str(onnx), "--out", str(tmp_path / "eval")]) == USAGE
    err = one_error_line(capsys, "evaluate.py")
    assert "is an exported ONNX model; this needs the training checkpoint (.pt)" in err
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize("tool", ["train", "evaluate", "export"])
def test_a_corrupt_checkpoint_is_a_usage_error_without_unsafe_advice(tmp_path, capsys, tool):
    corrupt = tmp_path / "checkpoints" / "last.pt"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"\x80\x04not really a pickle" * 50)
    arguments = {
        "train": ["--run-dir", str(tmp_path), "--resume"],
        "evaluate": ["--checkpoint", str(corrupt), "--out", str(tmp_path / "eval")],
        "export": ["--checkpoint", str(corrupt), "--onnx", str(tmp_path / "m.onnx")],
    }[tool]
    assert {"train": train, "evaluate": evaluate, "export": export}[tool].main(arguments) == USAGE
    assert "truncated, corrupt or another format" in one_error_line(capsys, f"{tool}.py")


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("train", ["--run-dir", "x", "--resume", "--set"]),
        ("evaluate", ["--out", "x"]),
        ("export", ["--checkpoint", "a.pt", "--onnx", "b.txt"]),
    ],
)
def test_argument_errors_exit_2_in_every_tool(capsys, tool, arguments):
    with pytest.raises(SystemExit) as exit_info:
        {"train": train, "evaluate": evaluate, "export": export}[tool].main(arguments)
    assert exit_info.value.code == USAGE
    assert "Traceback" not in capsys.readouterr().err


def test_the_config_error_for_both_lengths_says_how_to_fix_it(tmp_path):
    both = tmp_path / "both.yaml"
    both.write_text(f"base: {TINY_CONFIG}\nbudget:\n  epochs: 1\n")
    with pytest.raises(ConfigError, match=r"set exactly one of epochs and max_steps \(on the command line: --set"):
        load_config(both)
