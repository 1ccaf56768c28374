"""The layering rules: scenarios and engines load neither the front end, Textual nor a framework
on import; dependencies point one way (tui -> engines -> scenarios); no import cycles."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("textual", "torch", "tensorflow", "keras", "tui")
ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scenarios", "engines", "tui")


def _loaded_after(statement: str) -> list[str]:
    code = (f"import sys\n{statement}\n"
            f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    return [m for m in out.stdout.strip().split(",") if m]


def _modules(package: str) -> list[str]:
    """Every module of a package, found on disk (so a new module is covered without a test
    edit)."""
    folder = ROOT / package
    return [package] + [f"{package}.{m.name}" for m in
                        pkgutil.walk_packages([str(folder)], prefix="")]


def test_scenarios_imports_no_framework_no_engines_and_no_textual():
    mods = _modules("scenarios")
    assert _loaded_after("import " + ", ".join(mods)) == []
    assert "engines" not in _imports_of_package("scenarios")


def test_every_engines_module_imports_no_framework_no_front_end_and_no_textual():
    assert _loaded_after("import " + ", ".join(_modules("engines"))) == []


def test_cli_starts_without_frameworks():
    # The command line, its options, the headless runner and the text reports load neither
    # Textual nor a framework: only opening the app (tui.launch) imports Textual.
    loaded = _loaded_after("import tui.cli, tui.options, tui.headless, tui.reports")
    assert not set(loaded) & {"textual", "torch", "tensorflow", "keras"}


def test_the_picker_starts_without_numpy_the_runner_or_the_results():
    # Start-up (issue 12): what the picker's first frame needs is options, scenario files and
    # the picker's widgets; numpy, the runner, the engine hosts and the results load later.
    code = ("import sys\nimport tui.cli as cli\noptions = cli.parse_options([])\n"
            "import tui.app, tui.screens.picker\n"
            "tui.app.FwCompareApp(options)\n"
            "late = ('numpy', 'engines.run.runner', 'engines.hosting.host', 'engines.results',"
            " 'scenarios.data', 'scenarios.weights', 'psutil')\n"
            "print(','.join(m for m in late if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_lazy_package_exports_are_real_and_listed():
    import engines
    import scenarios

    for package in (engines, scenarios):
        assert sorted(package.__all__) == sorted(package._EXPORTS)
        for name in package.__all__:
            assert getattr(package, name) is not None and name in dir(package)
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            package.nope


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _import_graph() -> dict[str, set[str]]:
    """module -> project modules it imports (at any level, lazily inside functions too)."""
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    names = {_module_name(p) for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        mod = _module_name(path)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                targets = [stem] + [f"{stem}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in names:
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    deps.add(t)
        graph[mod] = deps
    return graph


def _imports_of_package(package: str) -> set[str]:
    return {d.split(".")[0] for m, deps in _import_graph().items()
            if m.split(".")[0] == package for d in deps}


def test_dependencies_point_one_way():
    assert _imports_of_package("engines") <= {"engines", "scenarios"}
    assert _imports_of_package("scenarios") <= {"scenarios"}


def test_no_import_cycles():
    graph = _import_graph()
    # A package's __init__ re-exports its modules; an edge into a package's own __init__ from
    # inside it is not a cycle of ideas, so it is left out.
    for mod, deps in graph.items():
        graph[mod] = {d for d in deps if not (mod.startswith(d + "."))}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


@pytest.mark.frameworks
def test_a_real_run_does_not_load_a_framework_into_the_driving_process():
    # Anything an engine sends back (versions, config) must unpickle without its framework:
    # a torch.TorchVersion once imported torch into the UI process and caused 200 ms GC pauses.
    stmt = ("from engines import Comparison, settings_for, build_results\n"
            "from scenarios import load_builtins\n"
            "s = load_builtins()[-1]\n"
            "c = Comparison(s, settings_for(s, steps=8, threads=1), "
            "{'pytorch': 'pytorch', 'tensorflow': 'tensorflow'}, telemetry=False)\n"
            "st = c.run(); build_results(st)\n"
            "assert st.exit_code() == 0, [e.error for e in st.engines.values()]")
    assert not set(_loaded_after(stmt)) & {"torch", "tensorflow", "keras", "textual"}
