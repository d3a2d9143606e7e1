"""The documentation site: its pages' examples run, its API reference covers
every public name, its gallery and numpydoc checks are in place.

The site itself is built by CI (`sphinx -W`, see docs/conf.py); these tests need
no Sphinx, except the last, which checks the validation settings Sphinx reads.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

import pytest
import torch

import skae

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(DOCS / "_ext"))
import skae_api  # noqa: E402

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS | doctest.FAIL_FAST
PAGES = sorted((DOCS / "user_guide").glob("*.md")) + sorted(DOCS.glob("*.rst"))
#: Modules under skae/ that are public by name but documented otherwise: skae
#: re-exports their public names (the estimators, exceptions, hookspecs; the
#: API page lists them as skae.X), they are the command line (cli, demo; see
#: docs/demo.md) or plugins (builtins; listed on the generated plugin page).
NOT_IN_API = {
    "skae.autoencoders",
    "skae.vae",
    "skae.conditional",
    "skae.cli",
    "skae.demo",
    "skae.builtins",
    "skae.exceptions",
    "skae.hookspecs",
}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page):
    torch.set_num_threads(1)
    # The pycon code blocks of a page, one after another, as one doctest.
    blocks = re.findall(r"^```pycon\n(.*?)^```", page.read_text(), re.M | re.S)
    blocks += re.findall(
        r"^\.\. code-block:: pycon\n\n(.*?)(?=^\S)", page.read_text(), re.M | re.S
    )
    text = "\n".join(blocks)
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, page.name, str(page), 0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} example(s) failed in {page}"


def test_user_guide_pages_have_examples():
    # Pages that teach an API show it in code that runs.
    for page in sorted((DOCS / "user_guide").glob("*.md")):
        if page.name == "index.md":
            continue
        assert "```pycon\n>>> " in page.read_text(), f"{page.name} has no example"


def test_api_page_covers_every_public_name():
    api = (DOCS / "api.rst").read_text()
    assert skae_api.missing_from_api(api) == []
    # and names nothing that does not exist
    for dotted in skae_api.documented_names(api):
        module_name, _, attr = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module_name), attr), dotted


def test_coverage_check_notices_a_missing_name():
    api = (DOCS / "api.rst").read_text()
    without = re.sub(r"^   BetaVAE\n", "", api, flags=re.M)
    assert without != api
    assert skae_api.missing_from_api(without) == ["skae.BetaVAE"]


def test_every_public_module_is_in_the_api_or_explained():
    public = {
        f"skae.{info.name}"
        for info in pkgutil.iter_modules(skae.__path__)
        if not info.name.startswith("_")
    }
    covered = set(skae_api.public_modules()) | NOT_IN_API
    assert public - covered == set()


def test_toctrees_reach_the_other_owners_pages():
    # docs/*.md written by others appear in a toctree, through an explicit
    # entry or a glob, as soon as they exist.
    entries = re.findall(
        r"^\s+(\S+?)(?: <(\S+)>)?$", (DOCS / "index.rst").read_text(), re.M
    )
    guide = (DOCS / "user_guide" / "index.md").read_text()
    listed = {target or name for name, target in entries} | {
        line.strip().lstrip("/") for line in guide.splitlines() if line.startswith("/")
    }
    for page in DOCS.glob("*.md"):
        assert any(Path(page.stem).match(pattern) for pattern in listed), (
            f"docs/{page.name} is in no toctree"
        )


def _gallery_scripts():
    return sorted(EXAMPLES.glob("plot_*.py"))


def test_gallery_has_the_classic_experiments_and_more():
    names = [p.stem for p in _gallery_scripts()]
    for needle in (
        "mlp_autoencoder",
        "conv_autoencoder",
        "denoising_autoencoder",
        "vae",
        "beta_vae",
        "interpolation",
        "sampling",
        "latent_traversal",
        "pipeline_grid_search",
        "outliers",
        "conditional_vae",
    ):
        assert any(needle in name for name in names), needle
    assert (EXAMPLES / "README.txt").exists()


@pytest.mark.parametrize("script", _gallery_scripts(), ids=lambda p: p.name)
def test_gallery_script_is_a_gallery_example(script):
    source = script.read_text()
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree)
    assert docstring, "sphinx-gallery needs a docstring with a title"
    lines = [line for line in docstring.splitlines() if line.strip()]
    if set(lines[0]) == {"="}:  # an overline
        lines = lines[1:]
    title, underline = lines[:2]
    assert set(underline) == {"="} and len(underline) >= len(title)
    assert "# %%" in source  # cells, each with its own text
    assert "load_digits" in source or "load_dataset" in source  # seconds, offline


def test_numpydoc_validation_is_configured():
    conf = (DOCS / "conf.py").read_text()
    checks = re.search(r"numpydoc_validation_checks = (\{.*?\})", conf).group(1)
    assert {"GL08", "EX01"} <= ast.literal_eval(checks)
    extensions = re.search(r"extensions = (\[.*?\])", conf, re.S).group(1)
    assert "intersphinx" not in extensions  # the build must not need the network


def _conf_value(name):
    tree = ast.parse((DOCS / "conf.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == name:
            return ast.literal_eval(node.value)
    raise KeyError(name)


def test_every_public_name_has_a_docstring_with_an_example():
    numpydoc_validate = pytest.importorskip("numpydoc.validate")
    missing = {}
    for module in skae_api.public_modules():
        for name in skae_api.public_names(module):
            obj = getattr(importlib.import_module(module), name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants such as __version__ have no docstring of their own
            errors = numpydoc_validate.validate(f"{module}.{name}")["errors"]
            codes = {error[0] for error in errors}
            if codes & {"GL08", "EX01"}:
                missing[f"{module}.{name}"] = sorted(codes & {"GL08", "EX01"})
    assert not missing, missing
