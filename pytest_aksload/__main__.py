"""`aksload` (also `python -m pytest_aksload`): the project's command line.

`aksload init` writes a `gates/` folder to start from (scaffold/). The embedded service has its
own command, `aksload-local`, and remote Locust workers `aksload-worker`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from pytest_aksload.scaffold import init

PROG = "aksload"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line that says what is wrong, instead of argparse's usage dump.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="pytest-aksload: gate a model deployment on a load test.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    init.add_arguments(
        commands.add_parser(
            "init",
            help="write a gates/ folder: a first gate, its pytest.ini and a CI recipe",
            description="Write a gates/ folder with a first load-test gate for one target, its pytest.ini and "
            "(--ci) a CI recipe; existing files are never overwritten. Then run: pytest gates",
        )
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "init":
        return init.run(args, f"{PROG} init")
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
