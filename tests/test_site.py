"""The website builds, with warnings treated as errors, and shows executed chapters.

The `built_site` fixture (conftest.py) runs `make site` (Jupyter Book 1.x,
execution cached) into _build/, the same build as `make book`, once per run.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_chapter_00_shows_executed_outputs(built_site):
    page = (built_site / "notebooks" / "00_welcome.html").read_text()
    assert "cell_output" in page, "no executed output in chapter 00"
    assert re.search(r"<img[^>]+src=\"[^\"]*\.png\"", page), "no figure in chapter 00"
    assert "test accuracy" in page
