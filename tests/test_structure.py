"""Structure of the book: table of contents, pins, chapter skeleton, clean notebooks."""

import ast
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tools import colab, toc

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _resolve(entry):
    matches = [p for p in (ROOT / f"{entry}{ext}" for ext in (".ipynb", ".md")) if p.exists()]
    return matches[0] if matches else None


def test_every_toc_entry_exists():
    missing = [entry for entry in toc.pages() if _resolve(entry) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_notebook_is_in_the_toc():
    listed = {_resolve(entry) for entry in toc.pages()}
    absent = [nb.name for nb in NOTEBOOKS if nb not in listed]
    assert NOTEBOOKS, "no chapters found in notebooks/"
    assert not absent, f"chapters missing from _toc.yml: {absent}"


def _requirements():
    """{group: requirements} of pyproject.toml: "core" and each extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"core": project["dependencies"], **project["optional-dependencies"]}


def _constraints():
    return colab.constraint_lines(ROOT)


def _pins_from_environment():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return [pin for pin in pip_section if pin != "-e ."]


def _spaceless(requirement):
    return re.sub(r"\s+", "", requirement)


def test_constraints_pin_exactly_what_pyproject_requires():
    """Every package pyproject.toml names has one exact pin in constraints.txt, and no other."""
    pinned = colab.pinned_versions(ROOT)  # raises on a line that is not `name==version`
    assert len(pinned) == len(_constraints()), "a package is pinned twice in constraints.txt"
    required = {colab.requirement_name(r) for group in _requirements().values() for r in group}
    assert sorted(required - pinned.keys()) == [], "pin these in constraints.txt"
    assert sorted(pinned.keys() - required) == [], "constraints.txt pins what nothing requires"


def test_pyproject_states_ranges_and_keeps_tensorflow_out_of_the_core():
    """`pip install .` where TensorFlow is installed must not replace it (Colab, conda)."""
    groups = _requirements()
    exact = [r for group in groups.values() for r in group if "==" in r.split(";")[0]]
    assert not exact, f"exact pins belong in constraints.txt, not pyproject.toml: {exact}"
    core = {colab.requirement_name(r) for r in groups["core"]}
    assert not {name for name in core if name.startswith(("tensorflow", "tf-"))}, core
    assert {colab.requirement_name(r) for r in groups["tensorflow"]} == {
        "tensorflow",
        "tensorflow-cpu",
    }


def test_pyproject_ships_every_package_under_utils():
    """setuptools installs only the packages pyproject.toml lists: a subpackage left out
    (utils.widgets) would be missing after a plain `pip install .`."""
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "utils").rglob("__init__.py")
    }
    assert sorted(listed["packages"]) == sorted(found)


def test_environment_yml_has_the_same_pins_as_constraints():
    """All of constraints.txt but the classroom hub's packages (`make hub` only)."""
    hub_only = {colab.requirement_name(r) for r in _requirements()["hub"]} - {
        colab.requirement_name(r)
        for group, requirements in _requirements().items()
        if group != "hub"
        for r in requirements
    }
    expected = [c for c in _constraints() if colab.requirement_name(c) not in hub_only]
    assert sorted(map(_spaceless, _pins_from_environment())) == sorted(map(_spaceless, expected))


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


def _utils_imports(source):
    """The utils modules a piece of code imports: {"utils.data", "utils.chapters.predict", ...}."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("utils"):
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("utils")}
    return found


def _chapter_module_names():
    return sorted(
        f"utils.chapters.{path.stem}"
        for path in (ROOT / "utils" / "chapters").glob("*.py")
        if path.stem != "__init__"
    )


def test_each_chapter_module_serves_exactly_one_chapter():
    """utils/chapters holds code that one chapter uses: one notebook imports each module."""
    users = {name: [] for name in _chapter_module_names()}
    for notebook in NOTEBOOKS:
        code = "\n".join("".join(c["source"]) for c in _cells(notebook) if c["cell_type"] == "code")
        imported = _utils_imports(code)
        for name in users:
            if name in imported or re.search(rf"-m\W+{re.escape(name)}\b", code):
                users[name].append(notebook.name[:2])
    assert users and all(len(chapters) == 1 for chapters in users.values()), users


# The shared modules of utils, in layers (utils/__init__.py's docstring).
LAYERS = (
    {"checks", "scale", "validation"},
    {"assets", "cache_files"},
    {"data", "idx", "full_set", "weights"},
    {"features", "feature_rows", "models", "finetune", "training", "model_files"},
    {"plots", "learning_curves", "network_plots", "inspection", "architecture", "results"},
)


def test_shared_modules_sit_in_layers_and_import_only_downwards():
    """Every shared module is in one layer and imports only from its own layer or below;
    utils.widgets and utils.chapters count as above every layer, so no shared module
    imports a panel or one chapter's code (a chapter's own panel and the build tools may)."""
    modules = {p.stem for p in (ROOT / "utils").glob("*.py")} - {"__init__"}
    assert modules == set().union(*LAYERS), "a module of utils is missing from LAYERS"
    level = {name: index for index, layer in enumerate(LAYERS) for name in layer}
    upward = {
        name: sorted(
            other
            for other in {i.split(".")[1] for i in _utils_imports(path.read_text()) if "." in i}
            if level.get(other, len(LAYERS)) > level[name]
        )
        for name, path in ((p.stem, p) for p in (ROOT / "utils").glob("*.py"))
        if name in level
    }
    assert not {name: found for name, found in upward.items() if found}
