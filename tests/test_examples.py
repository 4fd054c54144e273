"""Every example the README names runs after the README's own set-up: a fresh clone, `make examples`."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_make_examples_runs_every_example_the_readme_names() -> None:
    """Cheap: the README's examples, the files in examples/ and the Makefile's `examples` recipe agree."""
    named = set(re.findall(r"examples/(\w+\.py)", (ROOT / "README.md").read_text()))
    files = {p.name for p in (ROOT / "examples").glob("*.py")}
    recipe = re.search(r"^examples:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    run = set(re.findall(r"examples/(\w+\.py)", recipe))
    assert named == files == run, (named, files, run)


@pytest.mark.slow
def test_examples_run_in_a_fresh_venv_made_the_readme_way(tmp_path: Path) -> None:
    """A copy of the work tree (tracked and new files, no .venv), then `make examples` in it."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    clone = tmp_path / "gradwire"
    for name in listed:
        src = ROOT / name
        if src.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / name)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "GRADWIRE_TARGET")}
    r = subprocess.run(["make", "examples"], cwd=clone, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "y = tensor(28., grad_fn=<MulBackward0>)" in r.stdout
    assert "wrote sin_cos.png" in r.stdout and (clone / "sin_cos.png").stat().st_size > 1000
    assert "wrote cnn_train.png" in r.stdout and (clone / "cnn_train.png").stat().st_size > 1000
    diff = float(re.search(r"largest loss difference over the run: (\S+)", r.stdout).group(1))
    assert diff < 1e-9, r.stdout
