"""The README's examples run as written (on tiny data), so the user guide never goes stale.

Every ```bash and ```python block of README.md's user guide is executed in order in a scratch
folder that sees the repository's ``tests/data``; ```text / ```console blocks are not run.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _blocks():
    text = README.read_text()
    guide = text[text.index("## User guide") :]
    return [(lang, body) for lang, body in re.findall(r"```(bash|python)\n(.*?)```", guide, flags=re.S)]


def test_readme_starts_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


@pytest.mark.slow
def test_readme_examples_run(tmp_path):
    (tmp_path / "tests").mkdir()
    os.symlink(ROOT / "tests" / "data", tmp_path / "tests" / "data")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    blocks = _blocks()
    assert len(blocks) >= 4
    for i, (lang, body) in enumerate(blocks):
        if lang == "bash":
            command = ["bash", "-euo", "pipefail", "-c", body]
        else:
            command = [sys.executable, "-c", body]
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            pytest.fail(f"README block {i} ({lang}) failed:\n{body}\n--- stdout\n{result.stdout[-3000:]}"
                        f"\n--- stderr\n{result.stderr[-3000:]}")
        for expected in _shown_outputs(body):  # what the README says a print gives is what it prints
            assert expected in result.stdout, f"README block {i}: printed\n{result.stdout[-2000:]}\nnot {expected!r}"


def _shown_outputs(body: str) -> list[str]:
    """The outputs a block shows as ``print(...)  # OUTPUT`` (up to a ':' that starts an explanation)."""
    shown = []
    for line in body.splitlines():
        match = re.match(r"\s*print\(.*\)\s+#\s+(.*)$", line)
        if match:
            shown.append(match.group(1).split(": ")[0].strip())
    return shown


def test_the_readme_shows_outputs_that_are_checked():
    shown = [out for lang, body in _blocks() if lang == "python" for out in _shown_outputs(body)]
    assert "(8, 48, 48, 3) (8, 34)" in shown and "(None, 34)" in shown
