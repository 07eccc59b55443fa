"""A function, class or constant a chapter defines in a cell marked `# Saved in
utils/<module>.py` is the same code as the module's of that name (compared as
syntax trees, so comments and blank lines may differ, code may not)."""

import ast
import io
import json
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def saved_cells():
    for notebook in NOTEBOOKS:
        for cell in json.loads(notebook.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and source.startswith("# Saved in "):
                module = source.splitlines()[0].removeprefix("# Saved in ").strip()
                yield pytest.param(source, module, id=f"{notebook.stem}:{module}")


def definitions(source: str) -> dict[str, str]:
    """Each top-level function, class and constant (``NAME = ...``) as a syntax tree."""
    tree = ast.parse(source)
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = ast.dump(node)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            if isinstance(node.targets[0], ast.Name):
                found[node.targets[0].id] = ast.dump(node.value)
    return found


@pytest.mark.parametrize(("source", "module"), list(saved_cells()))
def test_saved_function_is_the_modules_code(source, module):
    path = ROOT / module
    assert path.is_file(), f"the cell says it is saved in {module}, which does not exist"
    chapter, library = definitions(source), definitions(path.read_text())
    assert chapter, "a '# Saved in' cell must define at least one function or class"
    for name, tree in chapter.items():
        assert name in library, f"{name} is not defined in {module}"
        assert tree == library[name], f"{name} differs between the chapter and {module}"


def test_some_chapter_saves_a_function():
    assert list(saved_cells()), "no chapter cell starts with '# Saved in utils/...'"


def _names_used(source: str) -> str:
    """The code's names and operators, space-separated: comments and strings
    (docstrings included) left out, so that only code that runs counts."""
    skip = {tokenize.COMMENT, tokenize.STRING, tokenize.NL, tokenize.NEWLINE}
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return " ".join(t.string for t in tokens if t.type not in skip)


def _chapters() -> dict[str, tuple[str, set[tuple[str, str]]]]:
    """Per chapter number: its code, and the (module, name) pairs its "# Saved in" cells define."""
    chapters = {}
    for notebook in NOTEBOOKS:
        cells = [
            "".join(cell["source"])
            for cell in json.loads(notebook.read_text())["cells"]
            if cell["cell_type"] == "code"
        ]
        saved = {
            (cell.splitlines()[0].removeprefix("# Saved in ").strip(), name)
            for cell in cells
            if cell.startswith("# Saved in ")
            for name in definitions(cell)
        }
        chapters[notebook.name[:2]] = ("\n".join(map(_names_used, cells)), saved)
    return chapters


def _introduced_tags():
    """(module path, name, chapter) for each top-level function or class of utils whose
    docstring says "Introduced in chapter NN"."""
    for path in sorted((ROOT / "utils").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found = re.search(r"Introduced in chapter (\d\d)", ast.get_docstring(node) or "")
                if found:
                    yield path, node.name, found.group(1)


def test_introduced_in_names_the_first_chapter_that_uses_it():
    """ "Introduced in chapter NN" names the first chapter whose code calls the helper
    (as module.name, or widgets.name for a panel) or writes it out in a "# Saved in" cell.
    Helpers that no chapter calls by name (used inside other helpers) are not checked."""
    chapters = _chapters()
    wrong = []
    for path, name, chapter in _introduced_tags():
        alias = "widgets" if path.parent.name == "widgets" else path.stem
        module = path.relative_to(ROOT).as_posix()
        users = [
            number
            for number, (code, saved) in chapters.items()
            if re.search(rf"\b{alias} \. {name}\b", code) or (module, name) in saved
        ]
        if users and users[0] != chapter:
            wrong.append(f"{module}:{name} says chapter {chapter}, first used in {users[0]}")
    assert not wrong, "\n".join(wrong)
