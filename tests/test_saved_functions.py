"""A function a chapter defines in a cell marked `# Saved in utils/<module>.py`
is the same code as the module's function of that name (compared as syntax
trees, so comments and blank lines may differ, code may not)."""

import ast
import json
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
    tree = ast.parse(source)
    return {
        node.name: ast.dump(node)
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    }


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
