"""Which public names skae has, and which of them docs/api.rst documents.

Plain Python, no Sphinx: the docs build (skae_docs.py) and tests/test_site.py
both use it.
"""

from __future__ import annotations

import importlib
import inspect
import re

#: The public submodules the API reference must cover; the optional ones are
#: covered once they exist.
PUBLIC_MODULES = (
    "skae",
    "skae.registry",
    "skae.persistence",
    "skae.datasets",
    "skae.images",
    "skae.plotting",
)
OPTIONAL_MODULES = ("skae.metrics", "skae.outliers")


def public_modules() -> list[str]:
    """The public modules that exist in this checkout."""
    found = list(PUBLIC_MODULES)
    for name in OPTIONAL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.append(name)
    return found


def public_names(module_name: str) -> list[str]:
    """A module's public names: its ``__all__``, else the functions and
    classes it defines whose names do not start with an underscore."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return sorted(
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module_name
    )


def documented_names(api_text: str) -> set[str]:
    """The dotted names the autosummary tables of ``api_text`` document."""
    names, module, in_table = set(), "", False
    for line in api_text.splitlines():
        stripped = line.strip()
        if match := re.match(r"\.\. (?:current)?module:: ([\w.]+)", stripped):
            module = match.group(1)
        if stripped.startswith(".. autosummary::"):
            in_table = True
            continue
        if in_table:
            if not line.strip() or stripped.startswith(":"):
                continue
            if not line.startswith("   "):
                in_table = False
                continue
            names.add(stripped if "." in stripped else f"{module}.{stripped}")
    for match in re.finditer(
        r"^\.\. (?:py:)?(?:data|function|class):: (\w+)", api_text, re.M
    ):
        names.add(f"{_module_at(api_text, match.start())}.{match.group(1)}")
    return names


def _module_at(api_text: str, position: int) -> str:
    """The current module at ``position`` of ``api_text``."""
    modules = re.findall(r"^\.\. currentmodule:: ([\w.]+)", api_text[:position], re.M)
    return modules[-1] if modules else ""


def missing_from_api(api_text: str) -> list[str]:
    """The public names that docs/api.rst documents under no name."""
    documented = documented_names(api_text)
    seen = set()
    for dotted in documented:
        module_name, _, attr = dotted.rpartition(".")
        try:
            seen.add(id(getattr(importlib.import_module(module_name), attr)))
        except (ImportError, AttributeError):
            continue
    missing = []
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in public_names(module_name):
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                ok = obj.__name__ in public_modules()
            else:
                ok = f"{module_name}.{name}" in documented or (
                    callable(obj) and id(obj) in seen
                )
            if not ok:
                missing.append(f"{module_name}.{name}")
    return missing
