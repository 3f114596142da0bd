"""The README's example runs as written."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run(tmp_path):
    """The README's Python blocks, in order, as one script (later blocks use earlier names)."""
    code = "\n".join(re.findall(r"```python\n(.*?)```", README.read_text(), re.S))
    code += "\nassert out.shape == (100, 8, 4) and out.sum() > 0 and report.resources['neurons']['used'] == 36\n"
    # the import, run with gradients on (the default, as in the README), gives SpikingJelly's own spikes
    code += "functional.set_step_mode(net, 'm'); functional.reset_net(net); assert torch.equal(out, net(spikes))\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "net.nir").is_file()


def test_ci_runs_the_readme_commands():
    ci = (README.parent / ".ci" / "run").read_text()
    for command in ("bash scripts/setup.sh", ".venv/bin/python -m pytest"):
        assert command in README.read_text() and command in ci
