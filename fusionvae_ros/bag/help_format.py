"""Command-line help of the bag tools and the demo: every option's help ends with its default, when it has one."""

from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse help that keeps the description's line breaks and appends ``(default: X)`` to options that
    default to a value (not None, False or [])."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        no_value = default is None or default is False or default is argparse.SUPPRESS or default in ([], ())
        if no_value or not action.option_strings or "%(default)" in text:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"
