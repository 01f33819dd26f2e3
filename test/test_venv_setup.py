"""Setting up: `make demo` / `make test` need no root, and the venv's .pth puts the checkout that holds the venv on
the path (found from the venv's location), so a second clone imports its own code, never the first one's."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PTH = REPO / "tools" / "venv_checkout.pth"


@pytest.mark.parametrize("target", ["demo", "test"])
def test_make_plans_no_root_commands(target):
    if shutil.which("make") is None:
        pytest.skip("make is not installed here")
    # -n: print the commands without running them; -B: as on a fresh machine, with every target out of date
    plan = subprocess.run(
        ["make", "-n", "-B", target], cwd=REPO, capture_output=True, text=True, timeout=600, check=True
    ).stdout
    assert "python3 -m venv .venv" in plan, "the plan covers creating the venv"
    assert "sudo" not in plan and "apt-get" not in plan


def clone_with_venv(root: Path, marker: str | None) -> Path:
    """A fake checkout at ``root`` (with a fusionvae_core package saying ``marker``, or none) and its own .venv
    holding the Makefile's .pth; returns the venv's python."""
    if marker is not None:
        (root / "fusionvae_core").mkdir(parents=True)
        (root / "fusionvae_core" / "__init__.py").write_text(f"WHICH = {marker!r}\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True, timeout=600)
    python = root / ".venv" / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    shutil.copy(PTH, Path(purelib) / "fusionvae_ros_repo.pth")
    return python


def imported_marker(python: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Import fusionvae_core with ``python`` from ``cwd``, no PYTHONPATH; prints its marker."""
    return subprocess.run(
        [str(python), "-c", "import fusionvae_core; print(fusionvae_core.WHICH)"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=600,
    )


def test_each_clone_imports_its_own_code_from_any_folder(tmp_path):
    assert str(REPO) not in PTH.read_text(), "the .pth must not pin a checkout path"
    first = clone_with_venv(tmp_path / "first", "first")
    second = clone_with_venv(tmp_path / "second", "second")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert imported_marker(first, elsewhere).stdout.strip() == "first"
    assert imported_marker(second, elsewhere).stdout.strip() == "second"
    stranger = clone_with_venv(tmp_path / "not_a_checkout", None)
    assert imported_marker(stranger, elsewhere).returncode != 0, "a venv outside a checkout adds nothing"
