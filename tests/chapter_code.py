"""The functions and classes a chapter defines, for the tests to call.

Code that only one chapter uses is written out in that chapter, not in
``utils``. Its tests read it from there: every top-level ``def`` and ``class``
of the chapter's code cells runs in a namespace that holds the names it needs
(the chapter's imports), and nothing else of the chapter runs.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def definitions(chapter: str, **imports) -> SimpleNamespace:
    """The top-level functions and classes of ``notebooks/<chapter>.ipynb``.

    ``imports`` are the names they use (``keras=keras, np=np``, ...).
    """
    notebook = json.loads((NOTEBOOKS / f"{chapter}.ipynb").read_text())
    namespace = dict(imports)
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse("".join(cell["source"]))
        nodes = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        if nodes:
            module = ast.Module(body=nodes, type_ignores=[])
            exec(compile(module, f"{chapter}.ipynb", "exec"), namespace)
    defined = {k: v for k, v in namespace.items() if k not in imports and k != "__builtins__"}
    return SimpleNamespace(**defined)
