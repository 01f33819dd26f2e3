"""Command line of the bag tools: ``fusionvae_bag VERB [options]``; errors print one line and exit with 2."""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

import fusionvae_ros.bag
from fusionvae_ros.bag import make_bag, process, record, register, replay, score
from fusionvae_ros.bag.bag_files import BagError
from fusionvae_ros.bag.help_format import DefaultsHelpFormatter

VERBS: dict[str, ModuleType] = {
    "make-bag": make_bag,
    "replay": replay,
    "record": record,
    "process": process,
    "score": score,
    "register": register,
}
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The parser with one sub-command per verb (each verb module adds its own options)."""
    parser = argparse.ArgumentParser(
        prog="fusionvae_bag",
        description=fusionvae_ros.bag.__doc__,
        epilog="Run 'fusionvae_bag VERB --help' for the options of a verb. Exit status: 0 ok, 2 bad input or "
        "unusable bag (one-line message), 130 interrupted.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, module in VERBS.items():
        description = (module.__doc__ or "").strip().partition(": ")[2]  # docstrings read "verb: what it does..."
        summary = description.split("\n\n")[0].replace("\n", " ")
        module.add_arguments(
            verbs.add_parser(name, help=summary, description=description, formatter_class=DefaultsHelpFormatter)
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the verb and map failures to exit codes (2: bad input, 130: interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        return int(VERBS[args.verb].run(args))
    except BagError as error:
        print(f"fusionvae_bag {args.verb}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
