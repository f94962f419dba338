"""The package rules, read from the source with ``ast``: each module's imports (those
inside functions and under ``TYPE_CHECKING`` too), checked against what each package may
depend on. The domain (``ledger``) depends on nothing of ours but itself, the HTTP API
never reaches into the processes that host it (``runtime``), and no two packages depend
on each other, however indirectly."""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "ledger",
    "contract",
    "infra",
    "projections",
    "consumers",
    "channels",
    "documents",
    "api",
    "runtime",
)
# The domain knows no HTTP, Kafka, SQL or read model: none of our other packages, and no
# database driver.
LEDGER_MAY_NOT_IMPORT = frozenset(PACKAGES) - {"ledger"} | {"psycopg", "psycopg_pool"}
ALLOWED: frozenset[str] = frozenset()  # no exceptions: keep it so


@dataclass(frozen=True)
class Import:
    path: str  # the importing file, relative to the root: "api/app.py"
    line: int
    name: str  # the module imported, absolute: "projections.balances"

    @property
    def package(self) -> str:
        return self.path.split("/")[0]

    @property
    def target(self) -> str:
        return self.name.split(".")[0]

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.name}"


def _module_parts(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    """The module a ``from`` import names, its relative dots resolved."""
    if not node.level:
        return node.module or ""
    here = _module_parts(path)
    package = here if path.name == "__init__.py" else here[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(path: Path) -> Iterator[Import]:
    relative = path.relative_to(ROOT).as_posix()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(relative, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, path)
            if module in PACKAGES:  # "from projections import balances": name the module
                for alias in node.names:
                    yield Import(relative, node.lineno, f"{module}.{alias.name}")
            else:
                yield Import(relative, node.lineno, module)


def all_imports() -> list[Import]:
    found = []
    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").is_file(), f"package {package}/ is missing"
        for path in sorted((ROOT / package).rglob("*.py")):
            found.extend(imports_of(path))
    return found


def test_the_domain_imports_no_other_package_and_no_database_driver() -> None:
    offending = [
        str(i)
        for i in all_imports()
        if i.package == "ledger" and i.target in LEDGER_MAY_NOT_IMPORT and i.path not in ALLOWED
    ]
    assert not offending, "ledger/ must stay pure domain:\n" + "\n".join(offending)


def test_the_api_does_not_import_the_runtime() -> None:
    offending = [str(i) for i in all_imports() if i.package == "api" and i.target == "runtime"]
    assert not offending, "api/ must not depend on runtime/:\n" + "\n".join(offending)


def package_graph(imports: list[Import]) -> dict[str, dict[str, Import]]:
    """For each package, the packages it imports, each with one import that shows it."""
    graph: dict[str, dict[str, Import]] = {p: {} for p in PACKAGES}
    for i in imports:
        if i.target in PACKAGES and i.target != i.package and i.path not in ALLOWED:
            graph[i.package].setdefault(i.target, i)
    return graph


def find_cycle(graph: dict[str, dict[str, Import]]) -> list[str] | None:
    """A cycle of packages, as the path that closes it (first == last), or None."""
    done: set[str] = set()

    def visit(package: str, path: list[str]) -> list[str] | None:
        if package in path:
            return [*path[path.index(package) :], package]
        if package in done:
            return None
        for target in sorted(graph[package]):
            cycle = visit(target, [*path, package])
            if cycle:
                return cycle
        done.add(package)
        return None

    for package in PACKAGES:
        cycle = visit(package, [])
        if cycle:
            return cycle
    return None


def test_no_two_packages_depend_on_each_other() -> None:
    graph = package_graph(all_imports())
    cycle = find_cycle(graph)
    if cycle is not None:
        edges = [f"  {a} -> {b}: {graph[a][b]}" for a, b in itertools.pairwise(cycle)]
        raise AssertionError(
            "import cycle between packages " + " -> ".join(cycle) + "\n" + "\n".join(edges)
        )


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check itself: a made-up graph with a cycle is caught, one without is not."""
    shown = Import("a/x.py", 1, "b.y")
    assert find_cycle({**{p: {} for p in PACKAGES}, "api": {"runtime": shown}}) is None
    looped = {**{p: {} for p in PACKAGES}, "api": {"runtime": shown}, "runtime": {"api": shown}}
    assert find_cycle(looped) == ["api", "runtime", "api"]


# Who may open a ledger or a connection pool: the composition root builds them for every
# process; besides it, only what defines them and two side pools no process wires.
OPENERS = ("open_ledger", "open_pool")
MAY_OPEN = {
    "runtime/composition.py": "the composition root: every process's ledger and pools",
    "consumers/rebuild.py": "the rebuild's side pool on its own schema (search_path), for one run",
    "consumers/liveness.py": "the heartbeat's own connection, reopened after a database restart",
}


def opener_calls(path: Path) -> Iterator[str]:
    """``path:line calls name`` for each call of ``open_ledger`` or ``open_pool`` in it."""
    relative = path.relative_to(ROOT).as_posix()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in OPENERS:
            yield f"{relative}:{node.lineno} calls {name}"


def test_only_the_composition_root_opens_ledgers_and_pools() -> None:
    offending = [
        call
        for package in PACKAGES
        if package != "infra"  # where they are defined
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.relative_to(ROOT).as_posix() not in MAY_OPEN
        for call in opener_calls(path)
    ]
    assert not offending, "build them in runtime/composition.py:\n" + "\n".join(offending)
    for path in MAY_OPEN:  # each exception still needed, or it goes
        assert list(opener_calls(ROOT / path)), f"{path} opens nothing: drop it from MAY_OPEN"
