"""Sphinx extension for skae's site: what the build generates and checks.

- ``.. skae-plugins::`` renders the architectures and noise schemes that
  ``skae.registry`` lists when the docs build (built-ins and the installed
  example distribution ``skae-extras``), so the list cannot go stale.
- The build warns (an error under ``-W``) when docs/api.rst leaves out a public
  name: anything in ``skae.__all__`` or in a public submodule
  (``skae_api.PUBLIC_MODULES``).
- It warns when a method or attribute shown on a class page has no docstring
  (numpydoc's GL08, which conf.py's numpydoc validation leaves to this check
  for class members).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from skae_api import missing_from_api
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: The example plugin distribution in plugins/, which the plugin list must show.
EXAMPLE_DISTRIBUTION = "skae-extras"


def _check_api(app) -> None:
    api_text = (Path(app.srcdir) / "api.rst").read_text()
    for name in missing_from_api(api_text):
        logger.warning(
            "docs/api.rst does not document the public name %s; add it to an "
            "autosummary table there.",
            name,
            type="skae",
            subtype="api",
        )


def _check_member_docstring(app, what, name, obj, options, lines) -> None:
    if what in ("method", "attribute", "property") and not any(
        line.strip() for line in lines
    ):
        logger.warning(
            "[skae] GL08: %s %s has no docstring.",
            what,
            name,
            type="skae",
            subtype="gl08",
        )


#: ``n_features_in_`` and the like outside literals: reST would read a
#: trailing underscore as a link to a target of that name.
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w:<|*\\])([A-Za-z]\w*)_(?![`\w])")
#: ``:ref:`` roles in docstrings inherited from scikit-learn point into
#: scikit-learn's own site, which this build does not reach (with the "the"
#: before a reference to its user guide, which becomes "scikit-learn's").
_FOREIGN_REF = re.compile(r"(?:\b[Tt]he\s+)?:ref:`(?:([^`<]*?)\s*<([^`>]+)>|([^`]+))`")
#: scikit-learn's gallery: ``sphx_glr_auto_examples_<folder>_plot_<name>.py``.
_SKLEARN_EXAMPLE = re.compile(r"sphx_glr_auto_examples_(\w+?)_(plot_\w+)\.py")
SKLEARN = "https://scikit-learn.org/stable"


def _foreign_ref(match: re.Match) -> str:
    """scikit-learn's own words for a reference into its site: its user guide
    and its gallery become links there, other labels their plain title."""
    title, _target, bare = match.groups()
    the = match.group(0)[: match.group(0).index(":ref:")]
    if title and title.lower() == "user guide":
        return f"`scikit-learn's user guide <{SKLEARN}/user_guide.html>`__"
    example = _SKLEARN_EXAMPLE.fullmatch(bare or "")
    if example:
        folder, page = example.groups()
        url = f"{SKLEARN}/auto_examples/{folder}/{page}.html"
        return f"{the}`scikit-learn's example {page}.py <{url}>`__"
    return the + (title or bare)


def _escape_trailing_underscores(line: str) -> str:
    parts = re.split(r"(``.*?``|`[^`]*`)", line)  # leave literals and roles alone
    for i in range(0, len(parts), 2):
        parts[i] = _TRAILING_UNDERSCORE.sub(r"\1\\_", parts[i])
    return "".join(parts)


def _clean_docstring(app, what, name, obj, options, lines) -> None:
    """Fix what reST misreads in plain docstrings (runs after numpydoc)."""
    module = getattr(obj, "__module__", None) or ""
    foreign = not module.startswith("skae")
    for i, line in enumerate(lines):
        if foreign:
            line = _FOREIGN_REF.sub(_foreign_ref, line)
        if not line.lstrip().startswith(("..", ">>>", "...")) and "::" not in line:
            line = _escape_trailing_underscores(line)
            if not foreign:
                line = _DOCS_PAGE.sub(lambda m: _page_link(app, m), line)
        lines[i] = line


#: "See docs/outliers.md." in skae's docstrings (a path, for readers of the
#: source) is a link to that page on the site.
_DOCS_PAGE = re.compile(r"(?<![`\w/.])docs/([\w/]+)\.(?:md|rst)\b")


def _page_link(app, match: re.Match) -> str:
    page = match.group(1)
    if any(Path(app.srcdir, page + suffix).exists() for suffix in (".md", ".rst")):
        return f":doc:`/{page}`"
    return match.group(0)


def _prune_globs(app, docname, source) -> None:
    """Drop toctree globs of pages that have not landed yet, and show links to
    repository files outside docs/ (which have no page here) as their paths."""
    text = source[0]
    if docname == "user_guide/index":
        srcdir = Path(app.srcdir)
        kept = []
        for line in text.splitlines(keepends=True):
            pattern = line.strip()
            if pattern.startswith("/") and "*" in pattern:
                if not any(
                    next(srcdir.glob(pattern.lstrip("/") + suffix), None)
                    for suffix in (".md", ".rst")
                ):
                    continue
            kept.append(line)
        text = "".join(kept)
    if app.env.doc2path(docname).suffix == ".md":
        text = re.sub(
            r"\[([^\]]+)\]\(((?:\.\./)+[^)#\s]+)\)",
            lambda m: _outside_link(app, docname, m),
            text,
        )
    source[0] = text


def _outside_link(app, docname, match) -> str:
    label, target = match.groups()
    page = Path(app.srcdir, docname).parent
    path = (page / target).resolve()
    try:
        path.relative_to(Path(app.srcdir).resolve())
        return match.group(0)  # a page of the site: keep the link
    except ValueError:
        pass
    relative = path.relative_to(Path(app.srcdir).resolve().parent).as_posix()
    plain = label.strip("`")
    return label if plain == relative else f"{label} (`{relative}` in the repository)"


def _link_scikit_learn(app, env, node, contnode):
    """Link ``sklearn.*`` names to scikit-learn's site, which has a page per
    public class and function (no inventory needed, so no network)."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("sklearn."):
        return None
    parts = target.split(".")
    # A class's page also holds its methods; a function has a page of its own.
    classes = [i for i, part in enumerate(parts) if part[:1].isupper()]
    page = ".".join(parts[: classes[0] + 1]) if classes else target
    anchor = f"#{target}" if target != page else ""
    uri = f"https://scikit-learn.org/stable/modules/generated/{page}.html{anchor}"
    reference = nodes.reference("", "", internal=False, refuri=uri)
    reference.append(contnode)
    return reference


#: A long call in a table cell, such as ``Detector(VAE(n_components=8))``.
_LONG_CALL = re.compile(r"\S{25,}")
_OPENING = re.compile(r"\((?!\))")  # not in "()"


def _cell_breaks(text: str) -> str:
    """Keep "0.9971 ± 0.005" on one line, and let a long call break after an
    opening parenthesis (a zero-width space), so a wide table's cells wrap
    where they read well instead of pushing the table past its column."""
    text = text.replace(" ± ", "\u00a0±\u00a0")
    return _LONG_CALL.sub(lambda m: _OPENING.sub("(\u200b", m.group(0)), text)


def _wrap_table_cells(app, doctree) -> None:
    for entry in doctree.findall(nodes.entry):
        for text in list(entry.findall(nodes.Text)):
            if isinstance(text.parent, (nodes.literal, nodes.literal_block)):
                continue
            wrapped = _cell_breaks(str(text))
            if wrapped != str(text):
                text.parent.replace(text, nodes.Text(wrapped))


def _range(level_range) -> str:
    low, high = level_range

    def show(value):
        return "inf" if math.isinf(value) else f"{value:g}"

    return f"[{show(low)}, {show(high)}]"


def _provider(entry) -> str:
    provider = entry.provider
    if provider.distribution == "skae":
        return f"built-in (``{provider.plugin}``)"
    return (
        f"``{provider.distribution}`` {provider.version} (plugin ``{provider.plugin}``)"
    )


def _cell(text: str) -> str:
    return text.replace("\n", " ").strip() or "\\ "


class PluginsDirective(SphinxDirective):
    """``.. skae-plugins::``: tables of the registered names, read at build time."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from skae import registry

        registry.reset()  # read installed distributions afresh
        architectures = registry.architectures()
        schemes = registry.noise_schemes()
        distributions = {
            entry.provider.distribution
            for entry in [*architectures.values(), *schemes.values()]
        }
        if EXAMPLE_DISTRIBUTION not in distributions:
            logger.warning(
                "The example plugin %s is not installed, so the plugin list lacks "
                "it: pip install -e ./plugins/skae-extras before building the docs.",
                EXAMPLE_DISTRIBUTION,
                location=self.get_location(),
                type="skae",
                subtype="plugins",
            )
        lines = [
            "**Architectures** (the ``encoder`` parameter of every estimator):",
            "",
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 15 55 30",
            "   :class: skae-plugins",
            "",
            "   * - name",
            "     - description",
            "     - provided by",
        ]
        for name, entry in sorted(architectures.items()):
            lines += [
                f"   * - ``{name}``",
                f"     - {_cell(entry.spec.description)}",
                f"     - {_provider(entry)}",
            ]
        lines += [
            "",
            "**Noise schemes** (the ``noise`` parameter of "
            ":class:`~skae.DenoisingAutoencoder`):",
            "",
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 15 45 12 28",
            "   :class: skae-plugins",
            "",
            "   * - name",
            "     - description",
            "     - ``noise_level``",
            "     - provided by",
        ]
        for name, entry in sorted(schemes.items()):
            lines += [
                f"   * - ``{name}``",
                f"     - {_cell(entry.spec.description)}",
                f"     - {_range(entry.spec.level_range)}",
                f"     - {_provider(entry)}",
            ]
        container = nodes.container()
        self.state.nested_parse(
            StringList(lines, source="<skae-plugins>"), self.content_offset, container
        )
        return container.children


def setup(app):
    app.add_directive("skae-plugins", PluginsDirective)
    app.connect("builder-inited", _check_api)
    app.connect("autodoc-process-docstring", _check_member_docstring)
    app.connect("autodoc-process-docstring", _clean_docstring, priority=900)
    app.connect("source-read", _prune_globs)
    app.connect("missing-reference", _link_scikit_learn)
    app.connect("doctree-read", _wrap_table_cells)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
