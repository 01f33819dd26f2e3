"""The bag tools' command line explains itself: every verb and every option has help, defaults are shown, and
the console script that setup.py installs (fusionvae_bag) runs the same main()."""

from __future__ import annotations

import argparse
import ast
import importlib
from pathlib import Path

import pytest

from fusionvae_ros.bag.__main__ import VERBS, build_parser

REPO = Path(__file__).resolve().parents[1]


def verb_parsers() -> dict[str, argparse.ArgumentParser]:
    (verbs,) = [action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(verbs.choices)


def console_scripts() -> dict[str, str]:
    """name -> 'module:function' of setup.py's console_scripts, read from its source."""
    for node in ast.walk(ast.parse((REPO / "setup.py").read_text())):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    entries = [ast.literal_eval(item) for item in value.elts]
                    return dict(tuple(part.strip() for part in entry.split("=")) for entry in entries)
    raise AssertionError("setup.py declares no console_scripts")


def test_every_verb_and_option_is_explained():
    parsers = verb_parsers()
    assert sorted(parsers) == sorted(VERBS)
    for verb, parser in parsers.items():
        text = parser.format_help()
        assert len(parser.description or "") > 40, f"{verb} has no description"
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            name = action.option_strings[-1] if action.option_strings else action.dest
            assert action.help and len(action.help.split()) >= 3, f"{verb} {name} has no real help"
            assert name in text
            has_value = action.option_strings and action.default not in (None, False, [], ())
            if has_value and not isinstance(action.default, list):
                assert f"(default: {action.default})" in " ".join(text.split()), f"{verb} {name}: default not shown"


def test_installed_script_runs_the_bag_main(capsys):
    target = console_scripts()["fusionvae_bag"]
    module, function = target.split(":")
    main = getattr(importlib.import_module(module), function)
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    listing = capsys.readouterr().out
    for verb in ("make-bag", "replay", "process", "score"):
        assert verb in listing
