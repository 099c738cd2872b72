"""Checks that keep the catalogue whole, UI-free so that tests and a translator's script share them: every template
the code passes to tr()/T() as a literal, those with no Korean, and text that bypassed the catalogue (found by
running in the pseudo-language, where every catalogue sentence is wrapped in ⟦ ⟧)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from . import catalogue

PACKAGE = Path(__file__).resolve().parents[1]
CALLS = {"tr", "T", "translate"}  # the functions whose first argument is a catalogue template
_BRACKETED = re.compile(r"⟦[^⟦⟧]*⟧")
_WORD = re.compile(r"[A-Za-z][\w'.-]*[\w]")


def templates_in_code(root: Path = PACKAGE) -> dict[str, str]:
    """Every literal template passed to tr/T/translate under root (a literal, or a module-level constant holding
    one) -> 'file:line' of its first use."""
    found: dict[str, str] = {}
    for path, tree in _modules(root):
        constants = _constants(tree)
        for node in ast.walk(tree):
            text = _template(node, constants)
            if text is not None:
                found.setdefault(text, f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


def computed_templates(root: Path = PACKAGE) -> list[str]:
    """'file:line' of each tr/T call whose template is neither a literal nor a module constant (the catalogue
    test cannot see it)."""
    return [f"{path.relative_to(root.parent)}:{node.lineno}" for path, tree in _modules(root)
            for node in ast.walk(tree) if _is_call(node) and node.args and _name(node) != "translate"
            and _template(node, _constants(tree)) is None]


def _modules(root: Path) -> list[tuple[Path, ast.Module]]:
    """Every module under root, parsed, but the machinery's own (it passes templates on as variables)."""
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(root.rglob("*.py"))
            if path.parent.name != "i18n" and path.name != "language.py"]


def _constants(tree: ast.Module) -> dict[str, str]:
    """The module-level NAME = "text" assignments of a module."""
    return {node.targets[0].id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}


def _template(node: ast.AST, constants: dict[str, str]) -> str | None:
    """The template text of a tr/T/translate call (a literal or a module constant), else None."""
    if not (_is_call(node) and node.args):
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return constants.get(first.id) if isinstance(first, ast.Name) else None


def _is_call(node: ast.AST) -> bool:
    """A call of one of CALLS (by name or as an attribute, e.g. language.T)."""
    return isinstance(node, ast.Call) and _name(node) in CALLS


def _name(node: ast.Call) -> str:
    """The called function's name."""
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def missing(language: str = "ko", root: Path = PACKAGE) -> dict[str, str]:
    """Templates the code uses that language's catalogue lacks -> where."""
    table = catalogue(language)
    return {t: where for t, where in templates_in_code(root).items() if t not in table}


def untranslated(text: str, allowed: set[str] = frozenset()) -> list[str]:
    """The English words of text outside ⟦ ⟧ (pseudo-language output), names in allowed left out (compared in
    lower case)."""
    previous = None
    while previous != text:  # nested brackets: a sentence with a translated sentence inside it
        previous, text = text, _BRACKETED.sub(" ", text)
    return [w for w in _WORD.findall(text) if len(w) > 2 and w.lower() not in allowed]
