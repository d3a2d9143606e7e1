"""The README's commands and example say what the project really does."""

import re
from pathlib import Path

import numpy as np

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
CI = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert any("skae demo" in c for c in commands)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in CI


def test_readme_example_runs():
    code = re.search(r"```python\n(.*?)\n```", README, flags=re.S).group(1)
    namespace = {}
    exec(code, namespace)
    samples = namespace["new_digits"]
    assert samples.shape == (16, 64) and np.isfinite(samples).all()
    assert namespace["pipe"].score(*namespace["load_digits"](return_X_y=True)) > 0.9
