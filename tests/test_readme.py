"""The README's commands and example say what the project really does."""

import configparser
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()


def _readme_test_command() -> str:
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert any("skae demo" in c for c in commands)
    return next(c for c in commands if "pytest" in c)


def test_ci_runs_the_readme_test_command():
    assert _readme_test_command() in CI


def test_ci_runs_the_readme_test_command_then_the_linters_and_the_docs():
    steps = [
        line
        for line in CI.splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert steps == [
        _readme_test_command(),
        ".venv/bin/ruff check .",
        ".venv/bin/ruff format --check .",
        ".venv/bin/python -m sphinx -W --keep-going -q -b html docs docs/_build/html",
    ]
    # The README's command installs what the linters need.
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    test_extra = setup["options.extras_require"]["test"].split()
    assert any(re.match(r"ruff\b", requirement) for requirement in test_extra)


def test_readme_example_runs():
    code = re.search(r"```python\n(.*?)\n```", README, flags=re.S).group(1)
    namespace = {}
    exec(code, namespace)
    samples = namespace["new_digits"]
    assert samples.shape == (16, 64) and np.isfinite(samples).all()
    assert namespace["pipe"].score(*namespace["load_digits"](return_X_y=True)) > 0.9
