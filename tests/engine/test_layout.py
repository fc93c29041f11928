"""The engine's layout holds (see the table at the top of ``siamese/engine/__init__.py``):
its modules import only modules of their own layer or below, with no cycle (imports
inside functions included); none is much over 700 lines; the decision layer and the
server use only the engine's public names; built-ins never see the machine."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import siamese.engine as engine
from siamese import RuleEngine
from siamese.engine import DEFAULT_BUILTINS, Builtin, BuiltinContext
from siamese.engine.machine import Machine

SRC = Path(engine.__file__).resolve().parent.parent
ENGINE = SRC / "engine"

# the rows of the table in engine/__init__.py, bottom first
LAYERS = [
    {"errors", "terms", "ast", "goals"},
    {"lexer", "textsyntax", "textformat", "yamlsyntax", "syntax", "patterns"},
    {"limits", "context", "compat", "builtins"},
    {"proof", "render"},
    {"program", "tables", "events", "analysis", "fastgen", "fastpath", "build"},
    {"codetables", "machine"},
    {"whynot"},
    {"driver"},
    {"decide"},
    {"__init__"},
]
RANK = {m: i for i, row in enumerate(LAYERS) for m in row}
MAX_LINES = 700


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of a module but those under ``if TYPE_CHECKING:`` (imports for the
    annotations only, which Python never runs)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _engine_imports(path: Path) -> set[str]:
    """The engine modules a module imports, anywhere in it (functions included)."""
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level > 1:
            raise AssertionError(f"{path.name} imports from outside the engine: {node.module}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("siamese"):
            raise AssertionError(f"{path.name} imports {node.module}")
    return out


def _graph() -> dict[str, set[str]]:
    return {p.stem: _engine_imports(p) for p in sorted(ENGINE.glob("*.py"))}


def test_every_engine_module_has_a_layer() -> None:
    assert set(_graph()) == set(RANK)


def test_modules_import_only_their_layer_or_below() -> None:
    wrong = [
        f"{m} ({RANK[m]}) imports {d} ({RANK[d]})"
        for m, deps in _graph().items() for d in deps if RANK[d] > RANK[m]
    ]
    assert not wrong


def test_no_import_cycle_local_imports_included() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, m, d]))
            if d not in state:
                visit(d, [*path, m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_no_engine_module_is_over_700_lines() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines())
             for p in ENGINE.glob("*.py")}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}


def test_decision_and_server_use_only_the_public_engine_api() -> None:
    public = set(engine.__all__)
    wrong = []
    for room in ("decision", "server"):
        for path in sorted((SRC / room).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ImportFrom):
                    continue
                module = node.module or ""
                if node.level == 2 and module.startswith("engine"):
                    if module != "engine":
                        wrong.append(f"{room}/{path.name}: from ..{module}")
                    wrong += [f"{room}/{path.name}: {a.name}" for a in node.names
                              if a.name not in public]
                elif module.startswith("siamese.engine"):
                    wrong.append(f"{room}/{path.name}: from {module}")
    assert not wrong


def test_every_public_name_exists() -> None:
    assert all(hasattr(engine, name) for name in engine.__all__)


def test_builtins_receive_a_context_not_the_machine() -> None:
    for name, b in DEFAULT_BUILTINS.items():
        first = next(iter(inspect.signature(b.fn).parameters.values()))
        assert first.annotation in ("BuiltinContext", BuiltinContext), name
    # and what a custom built-in is called with, in a running query
    seen: list[object] = []

    def spy(ctx: object, args: tuple[object, ...]) -> bool:
        seen.append(ctx)
        return True

    e = RuleEngine({"spy": Builtin("spy", spy)})
    e.load_text("p(?x) :- spy(?x).\n")
    assert e.ask("p", "a")
    assert len(seen) == 1 and type(seen[0]) is BuiltinContext
    assert not any(isinstance(getattr(seen[0], n), Machine) for n in BuiltinContext.__slots__)
