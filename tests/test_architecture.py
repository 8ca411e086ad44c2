"""The layout's promises, checked: front ends reach the index only through the service; functions stay short."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRONT_ENDS = sorted((ROOT / "bot").glob("*.py"))
FORBIDDEN = ("retrieval.backends", "embeddings")
MAX_FUNCTION_LINES = 60


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", FRONT_ENDS, ids=lambda p: p.name)
def test_front_ends_import_nothing_from_the_backends_or_the_encoders(path):
    leaks = sorted(m for m in imported_modules(path) if m.startswith(FORBIDDEN))
    assert not leaks, f"{path.name} imports {leaks}: go through retrieval.service"


def test_no_function_is_longer_than_sixty_lines():
    long = []
    for package in ("bot", "retrieval", "embeddings"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long
