"""Import rules, checked with `ast` over the first-party source (shakeweb, accounts, jobs,
sandbox, costs and the other dashboard apps; not tests/ or bench/), so that imports run one way:

(a) the wall between the dashboard and the sandbox: nothing under a dashboard app (every
    first-party app but sandbox/ and shakeweb/) imports `sandbox`, nothing under sandbox/
    imports them (they meet over HTTP; shared plain code lives in shakeweb/, which both may
    import);
(b) views (`*/views.py`, `*/views/*.py`) never import `jobs.audioshake`: no AudioShake call
    inside a web request;
(c) the engine (`jobs/engine/`) never imports the handlers (`jobs.handlers`) or `costs`: the
    handlers register with the engine, never the reverse (passes while jobs/engine/ is absent);
(d) an import inside a function of a first-party module states its reason on its line, with
    the marker `# lazy: <reason>` (for example `# lazy: jobs.models needs the app registry`);
    a multi-line import may carry it on any of its lines;
(e) no import cycle, neither between modules nor between apps. Every import counts, those
    inside functions too (a lazy import hides a cycle, it does not remove it); between
    modules, those under `if TYPE_CHECKING:` are left out (they never run). A
    `from package import name` counts as an import of the submodule `package.name` when there
    is one, else of `package`; importing `a.b.c` is not counted as an import of `a` or `a.b`
    (a package that re-exports its submodules is no cycle).

Every rule is first proven on a synthetic source (the `test_rule_*_catches_*` tests).
`BEING_REMOVED_BY_ISSUE_11` lists the violations that were there when the rules came in; the
lead empties it as the branches that move that code are merged, and a stale entry fails.
"""

import ast
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = (
    "shakeweb",
    "accounts",
    "jobs",
    "sandbox",
    "costs",
    "listening",
    "batches",
    "approvals",
    "audit",
    "api",
    "notifications",
)
# The dashboard's apps: everything first-party but the sandbox and the project package.
DASHBOARD_APPS = frozenset(FIRST_PARTY) - {"sandbox", "shakeweb"}
LAZY_MARKER = re.compile(r"#\s*lazy:\s*\S")

# Known violations, (importing module, imported module), each exempt from every rule. Issue 11
# emptied it; a pair added here must say why, and the test below fails once it is fixed.
BEING_REMOVED_BY_ISSUE_11: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Imp:
    """One imported module: who imports it, where, and how."""

    module: str  # the importing module, e.g. "jobs.poller"
    imported: str  # the imported module, e.g. "jobs.services.remote"
    line: int
    in_function: bool
    type_checking: bool
    marked: bool  # carries `# lazy: <reason>`

    @property
    def pair(self) -> tuple[str, str]:
        return (self.module, self.imported)

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}"


# Reading the source ------------------------------------------------------------------------


def module_name(path: str) -> tuple[str, bool]:
    """`jobs/audioshake/__init__.py` -> ("jobs.audioshake", True); the bool: is a package."""
    parts = list(Path(path).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def first_party_sources(root: Path = ROOT) -> dict[str, str]:
    """Every first-party .py file, by its path relative to the root."""
    sources: dict[str, str] = {}
    for package in FIRST_PARTY:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                sources[path.relative_to(root).as_posix()] = path.read_text()
    return sources


def is_first_party(name: str) -> bool:
    return name.split(".")[0] in FIRST_PARTY


def app_of(name: str) -> str:
    return name.split(".")[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, lines: list[str], known: set[str]):
        self.module, self.is_package, self.lines, self.known = module, is_package, lines, known
        self.functions = 0
        self.type_checking = 0
        self.found: list[Imp] = []

    def _function(self, node: ast.AST) -> None:
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.type_checking += 1
        for child in node.body:
            self.visit(child)
        self.type_checking -= 1
        for child in node.orelse:
            self.visit(child)

    def _add(self, node: ast.stmt, imported: str) -> None:
        text = "\n".join(self.lines[node.lineno - 1 : node.end_lineno or node.lineno])
        self.found.append(
            Imp(
                module=self.module,
                imported=self._known_prefix(imported),
                line=node.lineno,
                in_function=self.functions > 0,
                type_checking=self.type_checking > 0,
                marked=bool(LAZY_MARKER.search(text)),
            )
        )

    def _known_prefix(self, name: str) -> str:
        """The longest prefix of `name` that is a scanned module (`jobs.models.Task` ->
        `jobs.models`); `name` itself when none is."""
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.known:
                return candidate
        return name

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, node.module] if node.module else package)
        else:
            base = node.module or ""
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(node, submodule if submodule in self.known else base)


def collect(sources: dict[str, str]) -> list[Imp]:
    """Every import of a first-party module in `sources` (path -> source text)."""
    names = {path: module_name(path) for path in sources}
    known = {name for name, _ in names.values()}
    found: list[Imp] = []
    for path, source in sources.items():
        module, is_package = names[path]
        collector = _Collector(module, is_package, source.splitlines(), known)
        collector.visit(ast.parse(source, filename=path))
        found.extend(imp for imp in collector.found if is_first_party(imp.imported))
    return found


# The rules: each returns the offending imports --------------------------------------------


def _is_under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def rule_a_sandbox_wall(imports: Iterable[Imp]) -> list[Imp]:
    """The dashboard apps never import the sandbox, the sandbox never imports them."""
    return [
        imp
        for imp in imports
        if (app_of(imp.module) in DASHBOARD_APPS and app_of(imp.imported) == "sandbox")
        or (
            app_of(imp.module) == "sandbox"
            and app_of(imp.imported) in DASHBOARD_APPS - {"accounts"}
        )
    ]


def is_view_module(name: str, is_package: bool = False) -> bool:
    parts = name.split(".")
    return parts[-1] == "views" or (len(parts) > 1 and parts[-2] == "views" and not is_package)


def rule_b_views_never_call_audioshake(imports: Iterable[Imp]) -> list[Imp]:
    """No view module imports the AudioShake client (or any part of its package)."""
    return [
        imp
        for imp in imports
        if is_view_module(imp.module) and _is_under(imp.imported, "jobs.audioshake")
    ]


def rule_c_engine_never_imports_handlers(imports: Iterable[Imp]) -> list[Imp]:
    """Nothing under jobs/engine/ imports the handlers or the costs app."""
    return [
        imp
        for imp in imports
        if _is_under(imp.module, "jobs.engine")
        and (_is_under(imp.imported, "jobs.handlers") or _is_under(imp.imported, "costs"))
    ]


def rule_d_lazy_imports_say_why(imports: Iterable[Imp]) -> list[Imp]:
    """An import of a first-party module inside a function carries `# lazy: <reason>`."""
    return [imp for imp in imports if imp.in_function and not imp.marked]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (or a self-loop), each as one
    cycle through its nodes, found with Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                components.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [_one_cycle(edges, component) for component in components]


def _one_cycle(edges: dict[str, set[str]], component: set[str]) -> list[str]:
    """A path from the component's first node back to itself, inside the component."""
    start = min(component)
    paths: dict[str, list[str]] = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges.get(node, ()) & component):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle in component {component}")  # pragma: no cover


def _graph(
    imports: Iterable[Imp], node: Callable[[str], str]
) -> tuple[dict[str, set[str]], dict[tuple[str, str], Imp]]:
    """The edges between nodes (modules, or apps: `node` maps a module to its node), leaving
    out imports within one node, and for each edge the first import that makes it."""
    edges: dict[str, set[str]] = defaultdict(set)
    witness: dict[tuple[str, str], Imp] = {}
    for imp in imports:
        a, b = node(imp.module), node(imp.imported)
        if a != b:
            edges[a].add(b)
            witness.setdefault((a, b), imp)
    return edges, witness


def rule_e_no_cycles(imports: Iterable[Imp]) -> list[tuple[list[str], list[Imp]]]:
    """Each import cycle (between modules, or between apps), with the imports that make it."""
    imports = list(imports)
    found = []
    running = [imp for imp in imports if not imp.type_checking]
    for subset, node in ((running, str), (imports, app_of)):
        edges, witness = _graph(subset, node)
        for cycle in _cycles(edges):
            found.append((cycle, [witness[a, b] for a, b in zip(cycle, cycle[1:], strict=False)]))
    return found


def _allowed(imports: Iterable[Imp], allow: set[tuple[str, str]]) -> list[Imp]:
    return [imp for imp in imports if imp.pair not in allow]


def _lines(found: Iterable[Imp]) -> str:
    return "\n".join(f"  {imp}" for imp in found)


def _cycle_lines(found: Iterable[tuple[list[str], list[Imp]]]) -> str:
    return "\n".join(
        "  " + " -> ".join(cycle) + "\n" + "\n".join(f"      {imp}" for imp in imps)
        for cycle, imps in found
    )


# The rules over the real source -----------------------------------------------------------

_IMPORTS: list[Imp] | None = None


def real_imports() -> list[Imp]:
    global _IMPORTS
    if _IMPORTS is None:
        _IMPORTS = collect(first_party_sources())
    return _IMPORTS


def _checked() -> list[Imp]:
    return _allowed(real_imports(), BEING_REMOVED_BY_ISSUE_11)


def test_the_dashboard_and_the_sandbox_never_import_each_other():
    """No module of a dashboard app imports sandbox, and sandbox imports none of them."""
    found = rule_a_sandbox_wall(_checked())
    assert not found, "They meet only over HTTP; move shared plain code to shakeweb/:\n" + _lines(
        found
    )


def test_no_view_imports_the_audioshake_client():
    """No view module imports jobs.audioshake: AudioShake is never called in a web request."""
    found = rule_b_views_never_call_audioshake(_checked())
    assert not found, "Views enqueue work for the poller instead:\n" + _lines(found)


def test_the_engine_never_imports_a_handler_or_costs():
    """Nothing under jobs/engine/ imports jobs.handlers or costs (vacuous until it exists)."""
    found = rule_c_engine_never_imports_handlers(_checked())
    assert not found, "Handlers register with the engine, not the reverse:\n" + _lines(found)


def test_every_function_level_first_party_import_states_its_reason():
    """An import of a first-party module inside a function carries `# lazy: <reason>`."""
    found = rule_d_lazy_imports_say_why(_checked())
    assert not found, (
        "Import at module level, or say why not with `# lazy: <reason>` on the line:\n"
        + _lines(found)
    )


def test_only_the_notifications_app_imports_notifications():
    """jobs, costs and accounts never import notifications: it listens to `task_changed`
    (connected from its own `ready()`) and reads the others, never the reverse."""
    found = [
        imp
        for imp in _checked()
        if app_of(imp.module) in {"jobs", "costs", "accounts", "shakeweb"}
        and app_of(imp.imported) == "notifications"
    ]
    assert not found, "Send a signal from jobs and receive it in notifications:\n" + _lines(found)


def test_there_is_no_import_cycle():
    """No import cycle between modules nor between apps, lazy imports included."""
    found = rule_e_no_cycles(_checked())
    assert not found, "Import cycles:\n" + _cycle_lines(found)


def test_the_allow_list_names_only_violations_that_still_exist():
    """Every allowed pair is still an import some rule would refuse: fixed ones leave the list."""
    imports = real_imports()
    refused = {
        imp.pair
        for rule in (
            rule_a_sandbox_wall,
            rule_b_views_never_call_audioshake,
            rule_c_engine_never_imports_handlers,
            rule_d_lazy_imports_say_why,
        )
        for imp in rule(imports)
    }
    refused |= {imp.pair for _, imps in rule_e_no_cycles(imports) for imp in imps}
    stale = sorted(BEING_REMOVED_BY_ISSUE_11 - refused)
    assert not stale, "Fixed: remove from BEING_REMOVED_BY_ISSUE_11:\n" + "\n".join(
        f"  {pair}" for pair in stale
    )


def test_the_source_tree_is_scanned():
    """The scan sees the real apps and their imports (so the rules cannot pass on nothing)."""
    modules = {imp.module for imp in real_imports()}
    assert {"jobs.models", "jobs.audioshake.client", "sandbox.api", "costs.services"} <= modules
    assert any(imp.pair == ("jobs.audioshake", "jobs.audioshake.client") for imp in real_imports())


# Each rule catches what it should (synthetic sources) -------------------------------------


def _imports(files: dict[str, str]) -> list[Imp]:
    """The first-party imports of synthetic files (path -> source)."""
    return collect(files)


def test_rule_a_catches_the_dashboard_importing_the_sandbox():
    """jobs importing sandbox.keys, even inside a function, and sandbox importing costs fail."""
    found = rule_a_sandbox_wall(
        _imports(
            {
                "jobs/client.py": "def key():\n    from sandbox.keys import sandbox_api_key\n",
                "sandbox/keys.py": "import costs.models\n",
                "sandbox/api.py": "from shakeweb.sandbox_mode import sandbox_api_key\n",
                "accounts/models.py": "from jobs import models\n",
            }
        )
    )
    assert {imp.pair for imp in found} == {
        ("jobs.client", "sandbox.keys"),
        ("sandbox.keys", "costs.models"),
    }


def test_rule_b_catches_a_view_importing_the_client():
    """A views.py or views/ module importing jobs.audioshake (any way) fails; services may."""
    found = rule_b_views_never_call_audioshake(
        _imports(
            {
                "jobs/audioshake/__init__.py": "",
                "jobs/audioshake/client.py": "",
                "jobs/views.py": "from jobs.audioshake import get_client\n",
                "costs/views/pages.py": "from jobs import audioshake\n",
                "accounts/views/settings.py": "import jobs.audioshake.client\n",
                "jobs/services.py": "from jobs.audioshake import get_client\n",
            }
        )
    )
    assert {imp.module for imp in found} == {
        "jobs.views",
        "costs.views.pages",
        "accounts.views.settings",
    }


def test_rule_c_catches_the_engine_importing_a_handler():
    """jobs.engine.* importing jobs.handlers.* or costs fails; the handlers importing the engine
    is the allowed direction."""
    found = rule_c_engine_never_imports_handlers(
        _imports(
            {
                "jobs/engine/__init__.py": "",
                "jobs/engine/leases.py": "from jobs.handlers import submit\n",
                "jobs/engine/outbox.py": "from costs.services import refresh\n",
                "jobs/handlers/submit.py": "from jobs.engine import leases\n",
            }
        )
    )
    assert {imp.pair for imp in found} == {
        ("jobs.engine.leases", "jobs.handlers.submit"),
        ("jobs.engine.outbox", "costs.services"),
    }


def test_rule_d_catches_a_function_level_import_without_a_reason():
    """A first-party import in a function (or method) needs `# lazy: <reason>`; third-party and
    module-level imports do not."""
    found = rule_d_lazy_imports_say_why(
        _imports(
            {
                "jobs/poller.py": (
                    "import json\n"
                    "from jobs.models import Task\n"
                    "def run():\n"
                    "    import requests\n"
                    "    from costs.services import refresh\n"
                    "    from jobs.outbox import enqueue  # lazy: the outbox imports the poller\n"
                    "class Poller:\n"
                    "    async def go(self):\n"
                    "        if True:\n"
                    "            from . import status\n"
                    "        from jobs.catalogue import (  # lazy: needs the app registry\n"
                    "            sync,\n"
                    "        )\n"
                ),
            }
        )
    )
    assert [(imp.imported, imp.line) for imp in found] == [
        ("costs.services", 5),
        ("jobs", 10),  # no jobs/status.py among these files: the package itself
    ]


def test_rule_e_catches_a_cycle_between_modules_and_between_apps():
    """poller -> remote -> outbox -> poller (that last one lazy, with a reason) is a module
    cycle; jobs -> costs in a function plus costs -> jobs is an app cycle; a package
    re-exporting its submodules is no cycle."""
    found = rule_e_no_cycles(
        _imports(
            {
                "jobs/poller.py": "from jobs.services import remote\n",
                "jobs/services/__init__.py": "",
                "jobs/services/remote.py": "import jobs.outbox\n",
                "jobs/outbox.py": "def f():\n    from jobs.poller import run  # lazy: why\n",
                "jobs/tasks.py": "def f():\n    from costs.services import refresh\n",
                "costs/services.py": "from jobs.models import Task\n",
                "jobs/models.py": "",
                "jobs/audioshake/__init__.py": "from .client import get_client\n",
                "jobs/audioshake/client.py": "from jobs.audioshake.errors import BadResponse\n",
                "jobs/audioshake/errors.py": "",
            }
        )
    )
    cycles = [cycle for cycle, _ in found]
    assert cycles == [
        ["jobs.outbox", "jobs.poller", "jobs.services.remote", "jobs.outbox"],
        ["costs", "jobs", "costs"],
    ]
    assert [str(imp) for imp in found[1][1]] == [
        "costs.services:1 imports jobs.models",
        "jobs.tasks:2 imports costs.services",
    ]


def test_rule_e_leaves_type_checking_imports_out_of_the_module_graph():
    """A back-reference under `if TYPE_CHECKING:` is no module cycle (it never runs)."""
    found = rule_e_no_cycles(
        _imports(
            {
                "jobs/a.py": "from jobs.b import B\n",
                "jobs/b.py": (
                    "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n"
                    "    from jobs.a import A\n"
                ),
            }
        )
    )
    assert found == []


def test_relative_imports_resolve_to_their_modules():
    """`from . import x`, `from .x import y` and `from .. import z` name the right modules."""
    found = _imports(
        {
            "jobs/audioshake/__init__.py": "from . import client\nfrom .errors import X\n",
            "jobs/audioshake/client.py": "from ..models import Task\nfrom .. import outbox\n",
            "jobs/audioshake/errors.py": "",
            "jobs/models.py": "",
            "jobs/outbox.py": "",
        }
    )
    assert {imp.pair for imp in found} == {
        ("jobs.audioshake", "jobs.audioshake.client"),
        ("jobs.audioshake", "jobs.audioshake.errors"),
        ("jobs.audioshake.client", "jobs.models"),
        ("jobs.audioshake.client", "jobs.outbox"),
    }
