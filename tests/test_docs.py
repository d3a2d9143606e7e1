"""The docs say what skae does: docs/plugins.md documents every hook, and its
walkthrough plugin really works; docs/architecture.md's layers are the checked ones."""

import configparser
import contextlib
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path

import pluggy

import skae
import skae.cli
from skae import hookspecs, registry

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "plugins.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()
EXTRAS = ROOT / "plugins" / "skae-extras"
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", GUIDE, re.M | re.S)
# Blocks whose first line is "# <file name>" are files of the walkthrough plugin.
FILES = {
    body.split("\n", 1)[0][2:]: body.split("\n", 1)[1]
    for _, body in BLOCKS
    if re.match(r"# [\w/]+\.\w+\n", body)
}


def _hookspecs() -> dict:
    """Hook name -> spec function, as pluggy reads them from skae.hookspecs."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return {name: caller.spec.function for name, caller in vars(pm.hook).items()}


def _annotation(annotation) -> str:
    return (
        annotation
        if isinstance(annotation, str)
        else inspect.formatannotation(annotation)
    )


def _signature(name, function) -> str:
    signature = inspect.signature(function)
    params = ", ".join(
        p.name if p.annotation is p.empty else f"{p.name}: {_annotation(p.annotation)}"
        for p in signature.parameters.values()
    )
    return f"{name}({params}) -> {_annotation(signature.return_annotation)}"


def _setup_cfg(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return parser


def test_every_hook_is_documented_with_its_signature():
    specs = _hookspecs()
    marked = {
        name
        for name, obj in vars(hookspecs).items()
        if getattr(obj, f"{hookspecs.PROJECT_NAME}_spec", None) is not None
    }
    assert set(specs) == marked and specs, "pluggy and the marker disagree"
    for name, function in specs.items():
        heading = f"### `{_signature(name, function)}`"
        assert heading in GUIDE, f"docs/plugins.md lacks the heading {heading}"
    documented = set(re.findall(r"^### `(\w+)\(", GUIDE, re.M))
    assert documented <= set(specs), (
        f"documented hooks that do not exist: {documented - set(specs)}"
    )


def test_guide_names_the_entry_point_group_like_the_example_plugin():
    group = registry.ENTRY_POINT_GROUP
    assert f"The group must be `{group}`" in GUIDE
    for cfg in (
        _setup_cfg(FILES["setup.cfg"]),
        _setup_cfg((EXTRAS / "setup.cfg").read_text()),
    ):
        assert list(cfg["options.entry_points"]) == [group]
        assert "skae" in cfg["options"]["install_requires"].split()
    extras_pyproject = (EXTRAS / "pyproject.toml").read_text()
    assert FILES["pyproject.toml"] == extras_pyproject


def test_python_blocks_compile_and_public_names_exist():
    for _, body in (b for b in BLOCKS if b[0] == "python"):
        compile(body, "docs/plugins.md", "exec")
    missing = []
    for dotted in sorted(set(re.findall(r"\bskae\.([A-Za-z_][\w.]*\w)", GUIDE))):
        obj, parts = skae, dotted.split(".")
        for i, part in enumerate(parts):
            if hasattr(obj, part):
                obj = getattr(obj, part)
                continue
            try:  # a submodule not imported yet, such as skae.builtins.mlp
                obj = importlib.import_module("skae." + ".".join(parts[: i + 1]))
            except ImportError:
                missing.append(f"skae.{dotted}")
                break
    assert missing == [], f"docs/plugins.md names what skae lacks: {missing}"


def test_walkthrough_plugin_installs_and_passes_its_tests(
    tmp_path, monkeypatch, capsys
):
    # Install the guide's plugin the way pip would, minus the build: its module
    # and a dist-info folder with the metadata and entry points from its setup.cfg.
    cfg = _setup_cfg(FILES["setup.cfg"])
    name, version = cfg["metadata"]["name"], cfg["metadata"]["version"]
    info = tmp_path / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    groups = "".join(
        f"[{group}]\n{value.strip()}\n"
        for group, value in cfg["options.entry_points"].items()
    )
    (info / "entry_points.txt").write_text(groups)
    module_name = cfg["options"]["py_modules"]
    (tmp_path / f"{module_name}.py").write_text(FILES[f"{module_name}.py"])
    monkeypatch.syspath_prepend(tmp_path)
    monkeypatch.delenv(registry.DISABLE_AUTOLOAD_ENV, raising=False)
    registry.reset()  # the registry finds the new distribution when next used
    try:
        mine = [
            entry
            for entry in registry.architectures().values()
            if entry.provider.plugin == "hello"
        ]
        assert mine and all(e.spec.build.__module__ == module_name for e in mine)

        spec = importlib.util.spec_from_file_location(
            "guide_test_skae_hello", tmp_path / "test_skae_hello.py"
        )
        (tmp_path / "test_skae_hello.py").write_text(FILES["tests/test_skae_hello.py"])
        tests = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tests)
        names = [n for n in vars(tests) if n.startswith("test_")]
        assert len(names) == 2
        for test in names:
            getattr(tests, test)()

        # The sample output of `skae plugins` matches the real one.
        assert skae.cli.main(["plugins"]) == 0
        actual = {
            " ".join(line.split()) for line in capsys.readouterr().out.splitlines()
        }
        sample = next(body for lang, body in BLOCKS if lang == "text")
        rows = [" ".join(line.split()) for line in sample.splitlines() if line != "..."]
        assert [r for r in rows if r not in actual] == []
        assert any("skae-hello" in r for r in rows)
    finally:
        sys.modules.pop(module_name, None)
        registry.reset()  # and forgets it again


def test_notebook_example_registers_and_unregisters():
    source = next(body for _, body in BLOCKS if body.startswith("# In a notebook"))
    namespace: dict = {}
    try:
        exec(compile(source, "docs/plugins.md", "exec"), namespace)
    finally:
        with contextlib.suppress(ValueError):
            skae.unregister_plugin("my-notebook-plugin")
    assert namespace["ae"].n_iter_ == 2
    assert namespace["ae"].transform(namespace["X"][:3]).shape == (3, 2)
    assert "tiny" not in registry.architectures()


def test_extras_readme_entry_point_matches_its_setup_cfg():
    readme = (EXTRAS / "README.md").read_text()
    block = re.search(r"^```ini\n(.*?)^```", readme, re.M | re.S).group(1)
    documented = _setup_cfg(block)["options.entry_points"]
    actual = _setup_cfg((EXTRAS / "setup.cfg").read_text())["options.entry_points"]
    assert dict(documented) == dict(actual)


def test_guide_covers_switches_commands_and_pickles():
    for needle in (
        f"{registry.DISABLE_AUTOLOAD_ENV}=1",
        "skae plugins",
        "register_plugin(plugin, name=None)",
        "unregister_plugin(name)",
        "carried:<names>",
        "level_range",
        "n_encoder_outputs",
    ):
        assert needle in GUIDE, needle


def test_architecture_page_lists_the_checked_layers():
    contract = configparser.ConfigParser()
    contract.read(ROOT / ".importlinter")
    layers = contract["importlinter:contract:layers"]
    (container,) = layers["containers"].split()
    checked = [
        sorted(f"{container}.{name.strip()}" for name in row.split("|"))
        for row in layers["layers"].strip().splitlines()
    ]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|", ARCHITECTURE, re.M)
    assert [int(number) for number, _ in rows] == list(range(1, len(rows) + 1))
    documented = [sorted(re.findall(r"`([\w.]+)`", modules)) for _, modules in rows]
    assert documented == checked


def test_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert [p for p in pages if f"(docs/{p})" not in readme] == []
