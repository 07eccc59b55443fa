"""The code is clean: ruff (rules in pyproject.toml) over the package, tests, chapters and scripts.

notebooks/ruff.toml extends those rules for the chapters: imports wrap at 79 columns.

Run the same check by hand with
`.venv/bin/ruff check utils tests notebooks tools book benchmarks hub`;
`ruff check --fix` repairs most findings. That notebooks are committed without
outputs is checked in tests/test_structure.py.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The helper package, the tests, the chapters (ruff reads .ipynb), the build
# tools, the scripts of the book and the benchmark, and the classroom hub.
FOLDERS = ["utils", "tests", "notebooks", "tools", "book", "benchmarks", "hub"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_ruff_finds_nothing(folder):
    assert (ROOT / folder).is_dir(), f"{folder}/ is missing"
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format=concise", folder],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        f"ruff found problems in {folder}/:\n{result.stdout}{result.stderr}"
    )
