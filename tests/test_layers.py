"""The package's arrows point down: what each stage may import, read from the source (STYLE.md, item 5)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import digest

ROOT = Path(digest.__file__).parent


def imports(package: str) -> Iterator[tuple[str, str, str]]:
    """(module file, the digest package it imports from, the names imported) for every import in ``package``."""
    for path in (ROOT / package).rglob("*.py"):
        folder = path.relative_to(ROOT).parent.parts  # the module's package, below digest
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:  # relative: one dot is the module's own package, each further dot one up
                    base = folder[: len(folder) - (node.level - 1)]
                    target = [*base, *(node.module.split(".") if node.module else [])]
                else:
                    target = (node.module or "").split(".")[1:] if (node.module or "").startswith("digest") else None
                if target is not None:
                    top = target[0] if target else ""
                    for alias in node.names:
                        yield path.name, top, alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("digest."):
                        yield path.name, alias.name.split(".")[1], ""


@pytest.mark.parametrize("package", ["ranking", "store"])
def test_the_ranker_and_the_store_import_only_the_model_and_the_errors(package):
    outside = {(f, top) for f, top, _ in imports(package) if top not in {package, "model", "errors"}}
    assert outside == set()


def test_the_send_pipeline_never_imports_the_layers_that_call_it():
    callers = {"app", "compose", "ranker", "cli", "web", "schedule"}  # compose and ranker: the app's message and ranking
    upward = {(f, top) for f, top, _ in imports("sending") if top in callers}
    assert upward == set()


@pytest.mark.parametrize("package", ["ranking", "store", "sending", "sources", "web", "cli"])
def test_no_package_imports_another_packages_underscore_names(package):
    private = {(f, top, name) for f, top, name in imports(package)
               if top != package and name.startswith("_") and not name.startswith("__")}
    assert private == set()


def test_the_send_pipeline_asks_the_app_only_for_public_names():
    used = set()
    for path in (ROOT / "sending").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "app":
                used.add(node.attr)
    assert used, "the pipeline is handed the app as `app`"
    assert {name for name in used if name.startswith("_")} == set()
