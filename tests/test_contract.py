"""The contract is pinned: public names, documented defaults, shipped files, layers."""

import ast
import configparser
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.base import BaseEstimator

import skae
from skae import registry

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(skae.__file__).resolve().parent
MAX_MODULE_LINES = 400

ESTIMATORS = [
    obj
    for obj in (getattr(skae, name) for name in skae.__all__)
    if inspect.isclass(obj) and issubclass(obj, BaseEstimator)
]


def _setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def _importlinter() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return parser


# --- public names ---------------------------------------------------------------


def test_skae_all_is_pinned():
    assert sorted(skae.__all__) == [
        "Architecture",
        "AutoencoderOutlierDetector",
        "AutoencoderTransformer",
        "BetaVAE",
        "ConditionalVAE",
        "DenoisingAutoencoder",
        "InvalidParameterError",
        "NoiseScheme",
        "PluginError",
        "VAE",
        "__version__",
        "data_parallel",
        "hookimpl",
        "load",
        "register_plugin",
        "registry",
        "unregister_plugin",
    ]
    assert len(set(skae.__all__)) == len(skae.__all__)
    assert all(hasattr(skae, name) for name in skae.__all__)


def test_registry_all_is_pinned():
    assert sorted(registry.__all__) == [
        "DISABLE_AUTOLOAD_ENV",
        "ENTRY_POINT_GROUP",
        "Entry",
        "Provider",
        "ResolvedArchitecture",
        "architectures",
        "noise_schemes",
        "register_plugin",
        "reset",
        "resolve_architecture",
        "resolve_noise",
        "unregister_plugin",
    ]
    assert len(set(registry.__all__)) == len(registry.__all__)
    assert all(hasattr(registry, name) for name in registry.__all__)


# --- documented defaults --------------------------------------------------------


def _documented_parameters(cls: type) -> dict[str, str]:
    """Parameter name -> the text after ``default=`` in the numpydoc section."""
    doc = inspect.getdoc(cls)
    assert "{" + "common_parameters}" not in doc, f"{cls.__name__}: unfilled template"
    section = re.search(
        r"^Parameters\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", doc, re.M | re.S
    )
    assert section, f"{cls.__name__} has no Parameters section"
    documented = {}
    for name, kind in re.findall(r"^(\w+) : (.+)$", section.group(1), re.M):
        assert name not in documented, f"{cls.__name__} documents {name!r} twice"
        default = re.search(r", default=(.+)$", kind)
        assert default, f"{cls.__name__}: {name!r} documents no default: {kind!r}"
        documented[name] = default.group(1)
    return documented


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_defaults_match_the_documented_defaults(cls):
    signature = inspect.signature(cls.__init__)
    defaults = {
        name: p.default
        for name, p in signature.parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    documented = _documented_parameters(cls)
    assert list(documented) == list(defaults), "documented in another order or set"
    assert sorted(cls().get_params(deep=False)) == sorted(defaults)
    wrong = {}
    for name, default in defaults.items():
        try:
            value = ast.literal_eval(documented[name])
        except (ValueError, SyntaxError):
            wrong[name] = (documented[name], default)
            continue
        if type(value) is not type(default) or value != default:
            wrong[name] = (documented[name], default)
    assert wrong == {}, f"{cls.__name__}: name -> (documented, actual): {wrong}"


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_estimator_has_a_doctest_example(cls):
    assert re.search(r"^Examples\n-+\n>>> ", inspect.getdoc(cls), re.M)


# --- what ships, what runs --------------------------------------------------------


def test_py_typed_ships():
    assert (PACKAGE / "py.typed").is_file()
    package_data = _setup_cfg()["options.package_data"]["skae"].split()
    assert "py.typed" in package_data


def test_doctests_inside_the_package_run_under_the_test_command():
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "pytest"
    ]["ini_options"]
    assert "skae" in pytest_options["testpaths"]
    assert "--doctest-modules" in pytest_options["addopts"].split()


def test_the_test_extra_installs_the_architecture_linter():
    test_extra = _setup_cfg()["options.extras_require"]["test"].split()
    assert any(re.match(r"import-linter\b", req) for req in test_extra), test_extra


# --- layers -------------------------------------------------------------------


def test_every_import_linter_contract_is_kept():
    script = (
        "import sys\n"
        "from importlinter.cli import lint_imports\n"
        "sys.exit(lint_imports("
        "config_filename='.importlinter', no_cache=True, no_logo=True))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = run.stdout + run.stderr
    assert "No module named 'importlinter'" not in report, (
        "import-linter is not installed: pip install -e '.[test]'"
    )
    contracts = [
        _importlinter()[section]["name"]
        for section in _importlinter().sections()
        if section.startswith("importlinter:contract:")
    ]
    assert run.returncode == 0, report
    for name in contracts:
        assert re.search(rf"^{re.escape(name)} KEPT$", report, re.M), report


def test_the_contracts_say_what_the_architecture_needs():
    config = _importlinter()
    layers = config["importlinter:contract:layers"]
    assert layers["type"] == "layers"
    assert layers["containers"].split() == ["skae"]
    assert layers["exhaustive"] == "True"
    assert layers["exhaustive_ignores"].split() == ["__main__"]
    assert "ignore_imports" not in layers
    engine = config["importlinter:contract:engine"]
    assert engine["type"] == "forbidden"
    assert engine["source_modules"].split() == ["skae._engine"]
    assert {
        "sklearn",
        "skae._base",
        "skae._fitted",
        "skae.autoencoders",
        "skae.vae",
        "skae.persistence",
        "skae.registry",
        "skae._building",
        "skae.builtins",
    } <= set(engine["forbidden_modules"].split())
    assert "ignore_imports" not in engine
    assert engine.get("allow_indirect_imports", "False") == "False"


def test_no_module_is_longer_than_400_lines():
    lengths = {
        str(path.relative_to(PACKAGE.parent)): len(path.read_text().splitlines())
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    too_long = {path: n for path, n in lengths.items() if n > MAX_MODULE_LINES}
    assert too_long == {}, f"modules over {MAX_MODULE_LINES} lines: {too_long}"
