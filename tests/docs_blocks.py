"""The fenced code blocks of the docs (docs/**/*.md and README.md), for the tests that keep them true.

A block is what a reader copies, so each kind is exercised: gates (Python with `load_test`) are
collected by an inner pytest, which validates every marker argument; other Python is compiled and,
when its first line names a file (`# gates/contracts.py`), written there for the gates that use it;
ini/toml blocks are loaded as a project's configuration; YAML is parsed. A block a test cannot
exercise says so right before it: `<!-- not-tested: reason -->`. A `--8<-- "path"` line (the
snippets extension) is replaced by that repository file, so a page that includes a tested file is
checked against the file itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
README = REPO / "README.md"

_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")
_NOT_TESTED = re.compile(r"^<!-- not-tested: (?P<reason>.+?) -->$")
_SNIPPET = re.compile(r'^--8<-- "(?P<path>[^"]+)"$', re.M)
_FILENAME = re.compile(r"^# (?P<name>[\w./-]+\.py)\b")
CONFIG_LANGS = ("ini", "toml")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository, e.g. docs/contracts.md
    line: int  # of the opening fence
    lang: str
    text: str  # snippet includes resolved
    not_tested: str | None  # the reason, when the block is marked not-tested

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def is_gate(self) -> bool:
        return self.lang == "python" and "load_test" in self.text

    @property
    def filename(self) -> str | None:
        """The file a Python block says it is (`# gates/contracts.py`), else None."""
        match = _FILENAME.match(self.text)
        return match["name"] if match else None

    @property
    def slug(self) -> str:
        """A name for the block's test file that says where it came from."""
        return re.sub(r"\W", "_", Path(self.page).stem) + f"_L{self.line}"


def pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    page = path.relative_to(REPO).as_posix()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        text = "\n".join(lines[index + 1 : end]) + "\n"
        text = _SNIPPET.sub(lambda m: (REPO / m["path"]).read_text(encoding="utf-8").rstrip("\n"), text)
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = _NOT_TESTED.match(previous.strip())
        found.append(Block(page, index + 1, opening["lang"], text, marker["reason"] if marker else None))
        index = end + 1
    return found


def all_blocks() -> list[Block]:
    return [block for path in pages() for block in blocks_of(path)]


def gates() -> list[Block]:
    return [b for b in all_blocks() if b.is_gate and b.not_tested is None]


def support_files() -> list[Block]:
    """Python blocks that name their file and are not gates: contracts, conftests, locustfiles."""
    return [b for b in all_blocks() if b.lang == "python" and not b.is_gate and b.filename and b.not_tested is None]


def configs() -> list[Block]:
    return [b for b in all_blocks() if b.lang in CONFIG_LANGS and b.not_tested is None]


def write_gate_project(root: Path, chosen: list[Block], support: bool = True) -> dict[str, Block]:
    """Lay out the chosen gates under `root` as a user would, with the support files (gates next to
    the files they name) unless `support` is false; returns each gate's path relative to `root`
    with its block."""
    for block in support_files() if support else ():
        target = root / block.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")
    written = {}
    for block in chosen:
        name = block.filename or f"gates/test_{block.slug}.py"
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")
        written[name] = block
    return written
