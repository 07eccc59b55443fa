"""tests/nbval_site_cache.py: nbval's execution, stored for the site build as nbclient makes it."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import nbval_site_cache as plugin

TESTS = Path(__file__).resolve().parent
MODEL_ID = re.compile(r"[0-9a-f]{32}")


def _msg(parent: str, msg_type: str, content: dict, buffers=()) -> dict:
    return {
        "msg_type": msg_type,
        "header": {"msg_type": msg_type, "msg_id": f"{parent}-{msg_type}"},
        "parent_header": {"msg_id": parent},
        "content": content,
        "metadata": {},
        "buffers": list(buffers),
    }


def _widget(model: str, module: str = "@jupyter-widgets/controls", **state) -> dict:
    return {"_model_name": model, "_model_module": module, "_model_module_version": "2", **state}


def _open(parent: str, comm_id: str, state: dict, paths=(), buffers=()) -> dict:
    data = {"state": state, "buffer_paths": list(paths)}
    content = {"comm_id": comm_id, "target_name": "jupyter.widget", "data": data}
    return _msg(parent, "comm_open", content, buffers)


def _update(parent: str, comm_id: str, **state) -> dict:
    return _msg(
        parent, "comm_msg", {"comm_id": comm_id, "data": {"method": "update", "state": state}}
    )


def _stream(parent: str, text: str) -> dict:
    return _msg(parent, "stream", {"name": "stdout", "text": text})


def _display(parent: str, data: dict, msg_type: str = "display_data", **more) -> dict:
    return _msg(parent, msg_type, {"data": data, "metadata": {}, **more})


def _idle(parent: str) -> dict:
    return _msg(parent, "status", {"execution_state": "idle"})


def test_recorder_rebuilds_outputs_and_widget_state_from_kernel_messages():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell("slider_and_image()"),
        nbformat.v4.new_code_cell("   "),  # nbclient does not execute it; nbval does
        nbformat.v4.new_code_cell("captured_in_output_widget()"),
        nbformat.v4.new_code_cell("draw()  # a figure, and its value hidden;\nvalue();  # hidden"),
    ]
    recorder = plugin.NotebookRecorder(nb)
    recorder.kernel_info({"language_info": {"name": "python", "pygments_lexer": "ipython3"}})
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "s"}}
    messages = {
        1: [
            _msg("a", "status", {"execution_state": "busy"}),
            _msg("a", "execute_input", {"code": "", "execution_count": 7}),
            _open("a", "s", _widget("IntSliderModel", value=3)),
            _open("a", "i", _widget("ImageModel"), paths=[["value"]], buffers=[b"\x00\x01"]),
            _update("a", "s", value=5),
            _display("a", view),
            _stream("elsewhere", "another request's\n"),
            _stream("a", "one\n"),
            _stream("a", "two\n"),
            _idle("a"),
            _stream("a", "after idle: nbclient ignores it\n"),
        ],
        2: [_idle("b")],
        3: [
            _open("c", "o", _widget("OutputModel", "@jupyter-widgets/output", outputs=[])),
            _update("c", "o", msg_id="c"),  # `with out:` starts capturing this request
            _msg("c", "clear_output", {"wait": True}),
            _display("c", {"text/plain": "a figure"}),
            _update("c", "o", msg_id=""),
            _display("c", {"text/plain": "2"}, "execute_result", execution_count=1),
            _idle("c"),
        ],
        4: [
            _display("d", {"text/plain": "<Figure>"}),
            # under nbval (store_history=False) IPython shows what ';' hides
            _display("d", {"text/plain": "<Figure>"}, "execute_result", execution_count=0),
            _idle("d"),
        ],
    }
    for index, msg_id in ((1, "a"), (2, "b"), (3, "c"), (4, "d")):
        recorder.begin(index, msg_id)
        for message in messages[index]:
            recorder.message(message)
    assert recorder.missing() == []
    executed = recorder.notebook()

    first, empty, last, hidden = executed.cells[1:]
    assert [cell.execution_count for cell in (first, empty, last, hidden)] == [1, None, 2, 3]
    assert [out.output_type for out in first.outputs] == ["display_data", "stream", "stream"]
    assert "".join(out.get("text", "") for out in first.outputs) == "one\ntwo\n"
    assert empty.outputs == []
    # what the Output widget captured is in its state, not in the cell
    assert [(out.output_type, out.execution_count) for out in last.outputs] == [
        ("execute_result", 2)
    ]
    assert [out.output_type for out in hidden.outputs] == ["display_data"]
    assert executed.metadata.language_info["pygments_lexer"] == "ipython3"
    saved = executed.metadata.widgets["application/vnd.jupyter.widget-state+json"]
    assert (saved["version_major"], saved["version_minor"]) == (2, 0)
    states = saved["state"]
    assert sorted(states) == ["i", "o", "s"]
    assert states["s"]["model_name"] == "IntSliderModel" and states["s"]["state"]["value"] == 5
    assert states["i"]["buffers"] == [
        {"data": base64.b64encode(b"\x00\x01").decode(), "encoding": "base64", "path": ["value"]}
    ]
    assert [out["data"] for out in states["o"]["state"]["outputs"]] == [{"text/plain": "a figure"}]


def test_recorder_knows_which_cells_it_did_not_see_to_the_end():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1"), nbformat.v4.new_code_cell("2")]
    recorder = plugin.NotebookRecorder(nb)
    recorder.begin(0, "a")
    recorder.message(_idle("a"))
    recorder.begin(1, "b")
    recorder.message(_stream("b", "no idle status follows\n"))
    assert recorder.missing() == [1]


def test_book_cache_is_the_site_builds_cache(tmp_path):
    notebook = tmp_path / "notebooks" / "00.ipynb"
    notebook.parent.mkdir()
    assert plugin.book_cache(notebook)[0] is None  # no _config.yml: no book
    config = tmp_path / "_config.yml"
    config.write_text("execute:\n  execute_notebooks: cache\n")
    assert plugin.book_cache(notebook) == (tmp_path / "_build" / ".jupyter_cache", "")
    config.write_text("execute:\n  execute_notebooks: force\n")
    cache, why = plugin.book_cache(notebook)
    assert cache is None and "execute_notebooks: force" in why


def _canonical(nb) -> str:
    """Outputs and widget state with each random model id replaced by a digest of its content."""
    states = nb.metadata.get("widgets", {}).get(plugin.WIDGET_STATE, {}).get("state", {})
    names: dict[str, str] = {}

    def name(model_id: str) -> str:
        if model_id not in names:
            text = MODEL_ID.sub(replace, json.dumps(states[model_id], sort_keys=True))
            names[model_id] = "model-" + hashlib.sha256(text.encode()).hexdigest()[:12]
        return names[model_id]

    def replace(match) -> str:
        return name(match.group()) if match.group() in states else match.group()

    cells = [
        {key: cell.get(key) for key in ("execution_count", "outputs", "metadata")}
        for cell in nb.cells
        if cell.cell_type == "code"
    ]
    models = sorted(json.dumps(state, sort_keys=True) for state in states.values())
    whole = {"cells": cells, "models": models, "language_info": nb.metadata.get("language_info")}
    return MODEL_ID.sub(replace, json.dumps(whole, sort_keys=True, indent=1))


def _notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, path)


def test_nbval_run_stores_complete_notebooks_as_nbclient_executes_them(tmp_path):
    """One pytest run over three notebooks (three kernels, about 10 s): only the one
    that ran completely and passed is stored, and the site build's lookup finds the
    same outputs and widget state that an execution by nbclient (myst-nb's) gives."""
    from jupyter_cache import get_cache
    from jupyter_cache.executors.utils import single_nb_execution

    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "_config.yml").write_text("execute:\n  execute_notebooks: cache\n")
    book = tmp_path / "nb"
    book.mkdir()
    _notebook(
        book / "ok.ipynb",
        "import ipywidgets as widgets\nfrom IPython.display import HTML, display\nprint('hi')",
        "slider = widgets.IntSlider(value=3)\nout = widgets.Output()\n"
        "display(widgets.VBox([slider, out]))\n"
        "with out:\n    out.clear_output(wait=True)\n    display(HTML('<b>drawn</b>'))",
        "widgets.Image(value=b'not really a png', format='png')",
        "handle = display(HTML('first'), display_id=True)\nhandle.update(HTML('second'))",
        "x = 41\nx + 1;  # IPython hides the value",
    )
    _notebook(book / "bad.ipynb", "print('fine')", "raise ValueError('a chapter broke')")
    _notebook(book / "part.ipynb", "x = 1", "print(x)")
    env = {**os.environ, "PYTHONPATH": str(TESTS), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "nbval_site_cache", "-p", "no:cacheprovider",
         "--nbval-lax", "--nbval-current-env", "nb", "--deselect", "nb/part.ipynb::Cell 1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 1, log  # bad.ipynb fails
    assert "nb/ok.ipynb: stored for the site build in _build/.jupyter_cache" in log, log
    assert "nb/bad.ipynb: not stored for the site build: Cell 1 failed (call)" in log, log
    assert "nb/part.ipynb: not stored for the site build: only 1 of its 2 code cells ran" in log

    cache = get_cache(str(tmp_path / "_build" / ".jupyter_cache"))
    assert [Path(record.uri).name for record in cache.list_cache_records()] == ["ok.ipynb"]
    source = nbformat.read(book / "ok.ipynb", as_version=4)
    _, from_nbval = cache.merge_match_into_notebook(source)  # myst-nb's lookup
    from_nbclient = copy.deepcopy(source)
    executed = single_nb_execution(from_nbclient, cwd=str(book), timeout=60, allow_errors=False)
    assert executed.err is None, executed.exc_string
    assert len(from_nbval.metadata.widgets[plugin.WIDGET_STATE]["state"]) >= 8
    assert _canonical(from_nbval) == _canonical(from_nbclient)
