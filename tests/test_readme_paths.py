"""The README and the pages in docs/ are the map of the repository: every path they cite
must exist, so that a module moved or renamed cannot leave the map stale unnoticed.

Checked, outside fenced code blocks:

- a backticked path (`ledger/money.py`, `api/desk/`, `tests/test_desk_*.py`): one whose
  first part is an entry at the repository's top, or that ends in a source file's
  extension. A glob must match something. `infra/integrity/guard.service_role_statements`
  (a module and a name in it) counts when the module exists and names it;
- a backticked dotted module (`channels.smtp`, `infra.database.may_create`) whose first
  part is one of the repository's packages: the longest prefix that is a module, and
  whatever follows it named in that module;
- a relative Markdown link or image (`[definitions](docs/definitions.md)`), and a link to
  a heading of the same page (`[the map](#the-map)`).

Left alone: URLs and routes (`/v1/...`, `smtp://`), media types (`text/csv`), anything
with a placeholder (`<type>`, `{id}`, `$ARLEDGER_HOME`, `...`), words with spaces, and
paths under what ``.gitignore`` names (`.arledger/`, `test-artifacts/`: made by running,
never kept)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
EXTENSIONS = (
    ".py",
    ".md",
    ".html",
    ".js",
    ".css",
    ".json",
    ".toml",
    ".yml",
    ".yaml",
    ".sql",
    ".png",
    ".txt",
    ".cfg",
    ".ini",
)
PLACEHOLDER = re.compile(r"[<>{}$|?=:@,;()\[\]\s'\"]|\.\.\.|…")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _top_entries() -> set[str]:
    return {p.name for p in ROOT.iterdir() if p.name != ".git"}


def _packages() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/__init__.py")}


def _ignored() -> list[str]:
    """What ``.gitignore`` names at the top (``.arledger/``, ``test-artifacts/``)."""
    ignore = ROOT / ".gitignore"
    if not ignore.exists():
        return []
    names = []
    for line in ignore.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!", "*")):
            names.append(line.strip("/"))
    return names


def _prose_lines(path: Path) -> list[tuple[int, str]]:
    """The lines of a Markdown file outside fenced code blocks, numbered from 1."""
    out, fenced = [], False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((n, line))
    return out


def cited(path: Path) -> list[tuple[int, str, str]]:
    """``(line, kind, text)`` for every code span and relative link of ``path``."""
    found = []
    for n, line in _prose_lines(path):
        for match in CODE_SPAN.finditer(line):
            span = match.group(2).strip()
            found.append((n, "code", span))
            words = span.split()
            if len(words) > 1:  # a command: `.venv/bin/python benchmarks/desk.py`
                found.extend((n, "code", word.rstrip(".,;:")) for word in words)
        for match in LINK.finditer(CODE_SPAN.sub("", line)):
            found.append((n, "link", match.group(1)))
    return found


def headings(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``path``: lower case, punctuation dropped,
    spaces as hyphens."""
    anchors = set()
    for _, line in _prose_lines(path):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            text = CODE_SPAN.sub(lambda m: m.group(2), heading.group(1)).lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def _names(module: Path, name: str) -> bool:
    """Whether ``module`` (a file or a package) defines or mentions ``name``."""
    source = module / "__init__.py" if module.is_dir() else module
    return source.exists() and re.search(rf"\b{re.escape(name)}\b", source.read_text()) is not None


def _module(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base
    return None


def check_path(text: str, base: Path) -> str | None:
    """Why ``text`` (a path relative to ``base``) is not in the repository, or None."""
    relative = text.removeprefix("./").rstrip("/")
    if any(ch in relative for ch in "*?["):
        return None if list(base.glob(relative)) else "matches no file"
    target = (base / relative).resolve()
    if target.exists():
        return None
    # `package/module.name`: a module and a name it defines.
    stem, dot, name = relative.rpartition(".")
    if dot and IDENTIFIER.match(name):
        module = (base / f"{stem}.py").resolve()
        if module.is_file():
            return None if _names(module, name) else f"{module.relative_to(ROOT)} has no {name}"
    return "does not exist"


def check_dotted(text: str) -> str | None:
    """Why ``package.module.name`` does not resolve, or None."""
    parts = text.split(".")
    for n in range(len(parts), 0, -1):
        module = _module(parts[:n])
        if module is None:
            continue
        rest = parts[n:]
        if not rest or _names(module, rest[0]):
            return None
        return f"{module.relative_to(ROOT)} has no {rest[0]}"
    return "no such module"


def looks_like_repo_path(text: str, top: set[str]) -> bool:
    if "/" not in text or text.startswith(("/", "~", "-")) or "://" in text:
        return False
    if PLACEHOLDER.search(text):
        return False
    first = text.removeprefix("./").split("/", 1)[0]
    return first in top or text.rstrip("/").endswith(EXTENSIONS)


def looks_like_module(text: str, packages: set[str]) -> bool:
    parts = text.split(".")
    return (
        len(parts) > 1
        and parts[0] in packages
        and all(IDENTIFIER.match(p) for p in parts)
        and not text.endswith(EXTENSIONS)
    )


def problems(path: Path) -> list[str]:
    top, packages, ignored = _top_entries(), _packages(), _ignored()
    anchors = headings(path)
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    out = []
    for line, kind, text in cited(path):
        if kind == "link":
            target, _, anchor = text.partition("#")
            if not target:
                why = None if anchor in anchors else "names no heading of this page"
            elif re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
                continue  # a URL, mailto:, or a route of the running service
            else:
                why = check_path(target, path.parent)
        elif looks_like_repo_path(text, top):
            if any(text.removeprefix("./").startswith(f"{name}/") for name in ignored):
                continue
            why = check_path(text, ROOT)
        elif looks_like_module(text, packages):
            why = check_dotted(text)
        else:
            continue
        if why:
            out.append(f"{where}:{line}: `{text}` {why}")
    return out


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_cited_exists(document: Path) -> None:
    assert problems(document) == []


def test_the_readme_points_at_the_definitions_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/definitions.md" in readme
    assert (ROOT / "docs" / "definitions.md").is_file()
    assert "../shared" not in readme  # nothing outside the repository


def test_the_checker_tells_a_stale_path_from_a_live_one() -> None:
    top, packages = _top_entries(), _packages()
    assert looks_like_repo_path("ledger/money.py", top)
    assert looks_like_repo_path("api/desk/", top)
    assert not looks_like_repo_path("/v1/reports/aged-debt", top)
    assert not looks_like_repo_path("text/csv", top)
    assert not looks_like_repo_path("/v1/schemas/<type>", top)
    assert not looks_like_repo_path("smtp://user:pass@host:port", top)
    assert check_path("ledger/money.py", ROOT) is None
    assert check_path("tests/test_*.py", ROOT) is None
    assert check_path("ledger/no_such_module.py", ROOT) == "does not exist"
    assert check_path("tests/no_such_*.py", ROOT) == "matches no file"
    assert looks_like_module("ledger.money.Money", packages)
    assert not looks_like_module("arledger.invoice.raised", packages)
    assert check_dotted("ledger.money.Money") is None
    assert check_dotted("ledger.money.NoSuchName") is not None
    assert check_dotted("ledger.no_such_module") is not None
    assert {"where-to-find-x", "held-accounts-one-bad-event-never-stops-the-pipeline"} <= (
        headings(ROOT / "README.md")
    )


def test_a_moved_module_is_caught(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "Lives in `ledger/money.py` and `api/desk/`, see [the page](#page).\n"
        "Moved: `api/cli.py`, `ledger/integrity/chain.py`, `projections.database.may_create`,\n"
        "`infra/integrity/guard.no_such_name`, [gone](#nowhere), [lost](missing.md).\n"
        "Not paths: `/v1/accounts/{id}`, `text/csv`, `.arledger/pgdata`,\n"
        "`arledger.invoice.raised`, `smtp://user:pass@host:port`.\n"
        "```sh\ncat api/cli.py  # a fenced block is not checked\n```\n",
        encoding="utf-8",
    )
    found = problems(page)
    assert [line.split("`")[1] for line in found] == [
        "api/cli.py",
        "ledger/integrity/chain.py",
        "projections.database.may_create",
        "infra/integrity/guard.no_such_name",
        "#nowhere",
        "missing.md",
    ]
