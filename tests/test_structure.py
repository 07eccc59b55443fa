"""Structure of the book: table of contents, pins, chapter skeleton, clean notebooks."""

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def _resolve(entry):
    matches = [p for p in (ROOT / f"{entry}{ext}" for ext in (".ipynb", ".md")) if p.exists()]
    return matches[0] if matches else None


def test_every_toc_entry_exists():
    missing = [entry for entry in _toc_files() if _resolve(entry) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_notebook_is_in_the_toc():
    listed = {_resolve(entry) for entry in _toc_files()}
    absent = [nb.name for nb in NOTEBOOKS if nb not in listed]
    assert NOTEBOOKS, "no chapters found in notebooks/"
    assert not absent, f"chapters missing from _toc.yml: {absent}"


def _pins_from_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["test"]


def _pins_from_environment():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return [pin for pin in pip_section if pin != "-e ."]


def test_environment_yml_has_the_same_pins_as_pyproject():
    assert sorted(_pins_from_environment()) == sorted(_pins_from_pyproject())


def test_every_dependency_is_pinned_exactly():
    loose = [pin for pin in _pins_from_pyproject() if "==" not in pin]
    assert not loose, f"pin these exactly: {loose}"


def test_every_environment_dependency_says_why_it_is_there():
    lines = (ROOT / "environment.yml").read_text().split("dependencies:")[1].splitlines()
    for index, line in enumerate(lines):
        if re.match(r"\s+- ", line) and "#" not in line and not line.endswith(":"):
            assert lines[index - 1].strip().startswith("#"), f"no comment for: {line.strip()}"


def _cells(notebook):
    return json.loads(notebook.read_text())["cells"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(notebook):
    dirty = [
        i for i, c in enumerate(_cells(notebook)) if c.get("outputs") or c.get("execution_count")
    ]
    assert not dirty, f"{notebook.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_follows_the_skeleton(notebook):
    cells = _cells(notebook)
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    first = "".join(cells[0]["source"])
    assert first.startswith("# ") and markdown.count("\n# ") == 0, "exactly one H1 title, first"
    for heading in (
        "What you'll learn",
        "Prerequisites",
        "## Settings",
        "## Summary",
        "## What's next",
        "## Exercises",
    ):
        assert heading in markdown, f"{notebook.name} lacks '{heading}'"
    solutions = [
        c
        for c in cells
        if c["cell_type"] == "code" and "".join(c["source"]).startswith("# Solution")
    ]
    assert len(solutions) >= 2, f"{notebook.name} needs two executed, hidden exercise solutions"
    # hide-cell, not hide-input: the website must hide a solution's output too.
    shown = [
        "".join(c["source"]).splitlines()[0]
        for c in solutions
        if "hide-cell" not in c.get("metadata", {}).get("tags", [])
    ]
    assert not shown, f"{notebook.name}: tag these solution cells hide-cell: {shown}"
    assert markdown.count("Exercise ") >= 2


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M), ".ci/run must call `make test`"


# A code cell draws a figure when it calls a plotting function of utils.plots
# (confusion_counts only counts), opens or shows a matplotlib figure, or shows
# an explorer's answer at the top level, and does not close what it drew.
DRAWS = re.compile(
    r"plots\.(?!confusion_counts\b)\w+\(|plt\.(?:subplots|figure|show)\(|^\w+\.show\(",
    re.MULTILINE,
)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_has_alternative_text(notebook):
    """The website shows a cell's figures with the text of its `mystnb.image.alt`
    metadata as their alt attribute (otherwise the alt is the image's file name)."""
    missing = []
    for cell in _cells(notebook):
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or not DRAWS.search(source) or "plt.close(" in source:
            continue
        alt = cell["metadata"].get("mystnb", {}).get("image", {}).get("alt", "")
        if len(alt.split()) < 8:
            missing.append(cell.get("id"))
    assert not missing, (
        f"{notebook.name}: cells {missing} draw a figure without alternative text "
        "(cell metadata mystnb.image.alt, at least 8 words that say what it shows)"
    )
