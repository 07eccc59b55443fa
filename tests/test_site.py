"""The website builds, with warnings treated as errors, and shows executed chapters.

This test runs `make site` (Jupyter Book 1.x, execution cached) into _build/,
the same build as `make book`; it is the slowest test, so it runs last.
"""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def built_site():
    result = subprocess.run(
        ["make", "--no-print-directory", "site"], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        reports = sorted((ROOT / "_build" / "html" / "reports").glob("**/*.err.log"))
        details = "\n".join(p.read_text()[-3000:] for p in reports)
        pytest.fail(
            f"the book build failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}\n{details}"
        )
    return HTML


def test_index_page_exists(built_site):
    assert (built_site / "index.html").exists()


def test_chapter_00_shows_executed_outputs(built_site):
    page = (built_site / "notebooks" / "00_welcome.html").read_text()
    assert "cell_output" in page, "no executed output in chapter 00"
    assert re.search(r"<img[^>]+src=\"[^\"]*\.png\"", page), "no figure in chapter 00"
    assert "test accuracy" in page
