"""`aksload init`: write a `gates/` folder with a first gate, its ini file and a CI recipe.

Nothing is ever overwritten: every file is checked before the first is written, so a refusal
leaves the folder as it was. No key or secret is written anywhere: the files name the environment
variables the plugin reads them from.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from pytest_aksload.config.extras import SDK_EXTRAS, installed
from pytest_aksload.config.options import DEFAULT_KEY_ENV
from pytest_aksload.scaffold import ci
from pytest_aksload.scaffold.gates import GATE_FILE, INI_FILE, GateTarget, ScaffoldError, checked_target, gate, ini

GATES_DIR = "gates"

# The init option -> the target option (ini key) it writes.
_TARGETS = {
    "local": "aks_local",
    "scoring_uri": "aks_scoring_uri",
    "aks_service": "aks_service",
    "aml_endpoint": "aml_endpoint",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--local", action="store_true", help="gate the embedded local scoring service (--aks-local)")
    target.add_argument(
        "--scoring-uri", metavar="URL", help=f"gate any scoring URL; its key is read from ${DEFAULT_KEY_ENV}"
    )
    target.add_argument("--aks-service", metavar="NAME", help="gate an Azure ML AKS web service (SDK v1)")
    target.add_argument("--aml-endpoint", metavar="NAME", help="gate an Azure ML online endpoint (SDK v2)")
    parser.add_argument(
        "--ci", choices=("github", "azure"), help="also write a CI recipe: GitHub Actions or Azure Pipelines"
    )
    parser.add_argument(
        "--dir", type=Path, default=Path("."), metavar="PATH", help="where to write gates/ (default: here)"
    )


def files(target: GateTarget, ci_kind: str | None) -> dict[str, str]:
    """Each file to write, by its path relative to the folder that gets `gates/`."""
    planned = {f"{GATES_DIR}/{GATE_FILE}": gate(target), f"{GATES_DIR}/{INI_FILE}": ini(target)}
    if ci_kind == "github":
        planned[ci.GITHUB_FILE] = ci.github_actions(target, GATES_DIR)
    elif ci_kind == "azure":
        planned[ci.AZURE_FILE] = ci.azure_pipelines(target, GATES_DIR)
    return planned


def run(args: argparse.Namespace, prog: str) -> int:
    """`aksload init` with parsed arguments: 0 when written, 1 when refused, 2 on a bad value."""
    option = next(name for name in _TARGETS if getattr(args, name))
    try:
        target = checked_target(_TARGETS[option], None if option == "local" else getattr(args, option))
    except ScaffoldError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    root: Path = args.dir
    if root.exists() and not root.is_dir():
        print(f"{prog}: error: --dir {root}: not a directory", file=sys.stderr)
        return 2
    planned = files(target, args.ci)
    # lexists: a dangling symlink is a file the user has, too.
    existing = [name for name in planned if os.path.lexists(root / name)]
    if existing:
        print(
            f"{prog}: error: {root / existing[0]} already exists; nothing written (move it away, or use --dir PATH)",
            file=sys.stderr,
        )
        return 1
    for name, text in planned.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as out:  # "x": never replace a file that appeared meanwhile
            out.write(text)
    print(f"{prog}: wrote")
    for name in planned:
        print(f"  {root / name}")
    print(f"Next: {_next_command(target, root)}")
    return 0


def _next_command(target: GateTarget, root: Path) -> str:
    command = "pytest gates" if root == Path(".") else f"cd {shlex.quote(str(root))} && pytest gates"
    module = SDK_EXTRAS.get(target.option, ("", ""))[0]
    if module and not installed(module):
        command = f'pip install "{target.package}" && {command}'
    if target.option == "aks_scoring_uri":
        command += f" (with the endpoint's key in the environment variable {DEFAULT_KEY_ENV})"
    return command
