"""The package's shape, measured with ast: short functions, a small app.py, gradio only in the UI layer, no cycles."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "cnndemo"
MAX_FUNCTION_LINES = 40
MAX_APP_LINES = 120


def sources() -> list[Path]:
    """app.py and every module of the cnndemo package."""
    return [REPO / "app.py", *sorted(PACKAGE.rglob("*.py"))]


def module_name(path: Path, root: Path = REPO) -> str:
    """The dotted module name of a file below root (a package's __init__ is the package)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def long_functions(path: Path, root: Path = REPO) -> list[str]:
    """'file:line name (N lines)' for each function or method of path longer than MAX_FUNCTION_LINES."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(root)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


def _is_type_checking(node: ast.AST) -> bool:
    """An `if TYPE_CHECKING:` (or typing.TYPE_CHECKING) block: imports for type checkers only, never run."""
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (getattr(test, "id", None) == "TYPE_CHECKING"
                                         or getattr(test, "attr", None) == "TYPE_CHECKING")


def imports(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run in path: module level and lazy ones inside functions alike."""
    found, todo = [], [ast.parse(path.read_text(encoding="utf-8"))]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        children = node.orelse if _is_type_checking(node) else ast.iter_child_nodes(node)
        todo.extend(children)
    return sorted(found, key=lambda n: n.lineno)


def imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Absolute dotted names an import statement in module asks for (X.name as well as X for a from-import)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = module if is_package else module.rpartition(".")[0]
    for _ in range(max(node.level - 1, 0)):
        base = base.rpartition(".")[0]
    target = ".".join(p for p in ((base if node.level else ""), node.module or "") if p)
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """module -> {module of the package it imports: line of the first such import}, for every module of it."""
    files = {module_name(p, package.parent): p for p in sorted(package.rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {m: {} for m in files}
    for module, path in files.items():
        for node in imports(path):
            for target in _targets(node, imported_names(node, module, path.name == "__init__.py"), set(files)):
                if target != module:
                    graph[module].setdefault(target, node.lineno)
    return graph


def _targets(node: ast.Import | ast.ImportFrom, names: list[str], modules: set[str]) -> list[str]:
    """The package's modules an import statement runs: `from pkg import sub` runs pkg.sub when it is a module."""
    if isinstance(node, ast.ImportFrom):
        subs = [n for n in names[1:] if n in modules]
        return subs + ([names[0]] if names[0] in modules and len(subs) < len(names) - 1 else [])
    # `import a.b.c` runs the deepest of a.b.c, a.b, a that is a module of the package
    return [m for m in (_deepest_module(n, modules) for n in names) if m]


def _deepest_module(name: str, modules: set[str]) -> str | None:
    """name, or its longest dotted prefix, when that is a module of the package; else None."""
    parts = name.split(".")
    return next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in modules), None)


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (as a closed path of module names) through each strongly connected group of modules."""
    found, done = [], set()
    for start in sorted(graph):
        path = _path_back(graph, start, start, [start], set())
        if path and not set(path) & done:
            found.append(path)
            done |= set(path)
    return found


def _path_back(graph: dict, start: str, node: str, path: list[str], seen: set) -> list[str] | None:
    """A path start -> ... -> start through node by depth-first search, or None."""
    for nxt in sorted(graph[node]):
        if nxt == start:
            return path + [start]
        if nxt not in seen:
            seen.add(nxt)
            found = _path_back(graph, start, nxt, path + [nxt], seen)
            if found:
                return found
    return None


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    """'a (line 3) -> b (line 70) -> a': where each import along the cycle is, so the one to move is found fast."""
    steps = [f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
    return " -> ".join(steps + [cycle[-1]])


def test_no_function_is_over_40_lines():
    offenders = [line for path in sources() for line in long_functions(path)]
    assert not offenders, "functions over 40 lines:\n" + "\n".join(offenders)


def test_the_checker_sees_a_long_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def short():\n    return 1\n\n\ndef long():\n" + "    x = 1\n" * 40)
    assert long_functions(sample, tmp_path) == ["sample.py:5 long (41 lines)"]


def test_app_py_only_composes_tabs():
    lines = (REPO / "app.py").read_text(encoding="utf-8").splitlines()
    assert len(lines) < MAX_APP_LINES, f"app.py has {len(lines)} lines"


def gradio_imports(path: Path, root: Path = REPO) -> list[str]:
    """'file:line' of each statement of path that imports gradio or one of its submodules."""
    name = module_name(path, root)
    return [f"{path.relative_to(root)}:{node.lineno}" for node in imports(path)
            if any(n == "gradio" or n.startswith("gradio.") for n in imported_names(node, name, False))]


def test_gradio_is_imported_only_by_the_ui_layer():
    outside = [p for p in sources() if p.name != "app.py" and PACKAGE / "ui" not in p.parents]
    offenders = [line for path in outside for line in gradio_imports(path)]
    assert not offenders, "gradio imported outside cnndemo/ui and app.py: " + ", ".join(offenders)


def test_the_checker_sees_every_way_to_import_gradio(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os, gradio as gr\nfrom gradio.themes import Soft\nimport gradio_client\n"
                      "def later():\n    from gradio import Blocks\n")
    assert gradio_imports(sample, tmp_path) == ["sample.py:1", "sample.py:2", "sample.py:5"]


def test_no_import_cycle_among_cnndemo_modules():
    graph = import_graph()
    assert len(graph) > 20 and all(t in graph for edges in graph.values() for t in edges)
    found = [describe(c, graph) for c in cycles(graph)]
    assert not found, "import cycles (lazy imports count):\n" + "\n".join(found)


def _package(root: Path, files: dict[str, str]) -> Path:
    """A throwaway package 'pkg' under root with the given files (path relative to pkg: source)."""
    for name, text in files.items():
        (root / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "pkg" / name).write_text(text)
    return root / "pkg"


def test_the_graph_sees_relative_lazy_and_absolute_imports(tmp_path):
    package = _package(tmp_path, {
        "__init__.py": "from .errors import Oops\n",
        "errors.py": "import os\nclass Oops(ValueError): ...\n",
        "a.py": "def later():\n    from . import b  # lazy\n",
        "b.py": "import pkg.sub.c\nfrom pkg import Oops, errors\n",
        "sub/__init__.py": "",
        "sub/c.py": "from typing import TYPE_CHECKING\nfrom ..a import later\n"
                    "if TYPE_CHECKING:\n    from pkg import b\n"})
    assert import_graph(package) == {
        "pkg": {"pkg.errors": 1}, "pkg.errors": {}, "pkg.a": {"pkg.b": 2}, "pkg.sub": {},
        "pkg.b": {"pkg.sub.c": 1, "pkg.errors": 2, "pkg": 2}, "pkg.sub.c": {"pkg.a": 2}}
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]


def test_cycles_finds_one_cycle_per_group_and_ignores_what_only_leads_into_one():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "b": 5}, "d": {"a": 4}, "e": {"f": 1}, "f": {"e": 9}}
    assert cycles(graph) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert describe(["e", "f", "e"], graph) == "e (line 1) -> f (line 9) -> e"
    assert cycles({"a": {"b": 1}, "b": {}}) == []


def _is_wrapper(node: ast.AST) -> bool:
    """A function decorated with functools.wraps(...): a decorator's wrapper."""
    return any(isinstance(d, ast.Call) and ast.unparse(d.func) in ("wraps", "functools.wraps")
               for d in getattr(node, "decorator_list", ()))


def _is_decorator(node: ast.AST) -> bool:
    """A function whose nested functions are all decorator wrappers (the `decorate(fn)` of a decorator factory)."""
    inner = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return bool(inner) and all(_is_wrapper(n) for n in inner)


def nested_functions(path: Path, root: Path = REPO) -> list[str]:
    """'file:line name' of each function defined inside another (except a decorator and its wrapper), and of each
    lambda that closes over a name of the function around it: a handler hidden in a factory."""
    source = path.read_text(encoding="utf-8")
    where = path.relative_to(root)
    return ([f"{where}:{node.lineno} {node.name}" for node in _inner_defs(ast.parse(source), False)]
            + [f"{where}:{line} lambda" for line in _closure_lambdas(source)])


def _inner_defs(node: ast.AST, in_function: bool) -> list[ast.AST]:
    """The functions below node defined inside a function, decorators and their wrappers left out."""
    found = []
    for child in ast.iter_child_nodes(node):
        is_def = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
        if is_def and in_function and not (_is_wrapper(child) or _is_decorator(child)):
            found.append(child)
        found += _inner_defs(child, in_function or is_def)
    return found


def _closure_lambdas(source: str) -> list[int]:
    """Lines of the lambdas that use a variable of an enclosing function (symtable's free variables)."""
    import symtable

    lines, todo = [], [symtable.symtable(source, "<ui>", "exec")]
    while todo:
        table = todo.pop()
        if table.get_name() == "lambda" and table.get_frees():
            lines.append(table.get_lineno())
        todo.extend(table.get_children())
    return sorted(lines)


def test_no_function_in_the_ui_is_defined_inside_another():
    """Handlers are module-level functions named after their endpoint, taking the context first (ctx.bind)."""
    offenders = [line for path in sorted((PACKAGE / "ui").glob("*.py")) for line in nested_functions(path)]
    assert not offenders, "functions defined inside functions in cnndemo/ui:\n" + "\n".join(offenders)


def test_the_checker_sees_a_handler_factory_and_a_closure_but_lets_a_decorator_be(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import functools\n\n"
        "def predictor(ctx):\n    def predict(image):\n        return ctx, image\n    return predict\n\n"
        "def guarded(endpoint):\n    def decorate(fn):\n        @functools.wraps(fn)\n"
        "        def wrapped(*args):\n            return fn(*args)\n        return wrapped\n    return decorate\n\n"
        "def wire(ctx, button):\n    button.click(lambda name: ctx.zoo.info(name))\n"
        "    button.click(lambda: 'image')\n")
    assert nested_functions(sample, tmp_path) == ["sample.py:4 predict", "sample.py:17 lambda"]
