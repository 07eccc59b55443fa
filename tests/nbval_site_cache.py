"""nbval's execution of the chapters, stored where the site build looks for it.

`make test` executes every chapter with nbval, then builds the site (`make site` in
tests/test_site.py and tests/test_browser.py). The site build runs the chapters
through myst-nb's jupyter-cache (``execute_notebooks: cache`` in _config.yml,
cache in ``_build/.jupyter_cache``): a chapter whose code is in the cache is not
executed again. This pytest plugin puts nbval's execution there: for each
notebook nbval runs, it rebuilds the executed notebook and, when every code cell
ran and passed, stores it in the site's cache. The site build that follows then
logs "Using cached notebook" for that chapter instead of executing it.

How the executed notebook is rebuilt. nbval keeps only a rough copy of each
cell's outputs (it merges streams, ignores clear_output, display updates and
every widget message), so those are not used. Instead the plugin sees every
message nbval reads from the kernel (it wraps the kernel's ``get_message``) and
hands the messages of each cell to nbclient's own ``NotebookClient.process_message``,
the code that builds the outputs when myst-nb executes a notebook: the cell
outputs, the outputs that Output widgets capture, and the widget state in
``metadata.widgets`` (buffers in base64) come out as nbclient makes them.
Execution counts are numbered 1, 2, ... as nbclient numbers them, and
``language_info`` comes from the kernel's answer to one ``kernel_info`` request,
the request nbclient also sends first; the plugin sends the kernel nothing else.
nbval executes with ``store_history=False``, under which IPython no longer hides
the result of a cell that ends with ``;`` (a figure would show twice): the plugin
drops that result, as the kernel does under nbclient. What still differs from an
execution by nbclient: ``_``, ``Out`` and ``%history`` stay empty under nbval (a
chapter that read them would behave differently); an object that displays itself
(``_ipython_display_``) as the value of a cell ending with ``;`` is shown; what
compiled code writes straight to the process's stdout or stderr (TensorFlow's C++
log lines) is not captured, because ipykernel leaves those alone when
``PYTEST_CURRENT_TEST`` is set, and nbval's kernel inherits it (the site removes
stderr anyway, ``stderr_output: remove``); and nobody answers the Output
widgets' captures (nbclient, acting as the browser, sends each captured output
back to the kernel's widget; here the kernel's ``Output.outputs`` stays empty, as
in any run without a browser; the saved page state is the same). The book's
panels do not capture: they set ``Output.outputs`` themselves (utils/widgets/base.py),
which the kernel reports like any other widget state.

Nothing is stored for a notebook of which a cell failed or was skipped, or that
did not run completely (``-k``, ``--deselect``, ``-x``, an interrupt). One line
per notebook says whether it was stored, and where, or why not.

tests/conftest.py registers the plugin whenever nbval runs; ``-p no:nbval-site-cache``
turns it off.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
import yaml

PLUGIN_NAME = "nbval-site-cache"
DEFAULT_CACHE = "_build/.jupyter_cache"  # where myst-nb puts it: beside the html output
KERNEL_INFO_TIMEOUT = 30  # seconds
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def register(config: pytest.Config) -> None:
    """Register the plugin for this run if nbval runs notebooks and it is not turned off."""
    nbval_runs = config.getoption("nbval", False) or config.getoption("nbval_lax", False)
    manager = config.pluginmanager
    if nbval_runs and not manager.is_blocked(PLUGIN_NAME) and not manager.has_plugin(PLUGIN_NAME):
        manager.register(SiteCache(config), PLUGIN_NAME)


def pytest_configure(config: pytest.Config) -> None:
    """Also usable as ``-p nbval_site_cache`` when tests/ is on sys.path."""
    register(config)


class _Nowhere:
    """nbclient's Output-widget mimic sends each captured output back to the kernel
    through its kernel client; this stand-in drops them, so that the plugin only
    observes nbval's kernel."""

    def msg(self, *args, **kwargs) -> dict:
        return {}

    def send(self, *args, **kwargs) -> None:
        pass


class _SilentClient:
    session = _Nowhere()
    shell_channel = _Nowhere()


class NotebookRecorder:
    """The notebook that nbclient would have produced from the same kernel messages.

    ``begin(index, msg_id)`` when the code cell ``nb.cells[index]`` is sent to the
    kernel as request ``msg_id``; ``message(msg)`` for every iopub message, in the
    order they arrive (messages of other requests, and those after the cell's
    ``idle`` status, are ignored, as nbclient ignores them); ``notebook()`` at the end.
    """

    def __init__(self, nb: nbformat.NotebookNode):
        from nbclient import NotebookClient

        self.nb = copy.deepcopy(nb)
        # Only its message handling is used (no kernel), with jupyter-cache's settings.
        self.client = NotebookClient(self.nb, record_timing=False)
        self.client.kc = _SilentClient()
        self.executed = 0  # cells executed so far (nbclient's code_cells_executed)
        self.completed: set[int] = set()  # cells whose messages were all seen (up to idle)
        self._cell: nbformat.NotebookNode | None = None
        self._index = -1
        self._msg_id: str | None = None

    def kernel_info(self, content: dict) -> None:
        """The kernel's kernel_info reply: nbclient copies its language_info into the notebook."""
        self.nb.metadata["language_info"] = content["language_info"]

    def begin(self, index: int, msg_id: str) -> None:
        cell = self.nb.cells[index]
        if not cell.source.strip():  # nbclient does not send empty cells; nbval does
            self._msg_id = None
            self.completed.add(index)
            return
        self.executed += 1
        cell.outputs = []
        cell.execution_count = None
        self.client.clear_before_next_output = False
        self._cell, self._index, self._msg_id = cell, index, msg_id

    def message(self, msg: dict) -> None:
        from nbclient.exceptions import CellExecutionComplete

        if self._msg_id is None or msg["parent_header"].get("msg_id") != self._msg_id:
            return
        # nbclient renames update_display_data in the header it is given; keep nbval's intact
        msg = {**msg, "header": dict(msg["header"])}
        try:
            self.client.process_message(msg, self._cell, self._index)
        except CellExecutionComplete:  # the cell's idle status
            # nbclient numbers the cells it executes 1, 2, ... (the kernel's count under
            # nbval is not that: nbval executes with store_history=False)
            self._cell.execution_count = self.executed
            for output in self._cell.outputs:
                if output.output_type == "execute_result":
                    output.execution_count = self.executed
            if _quiet(self._cell.source):
                self._cell.outputs = [
                    out for out in self._cell.outputs if out.output_type != "execute_result"
                ]
            self.completed.add(self._index)
            self._msg_id = None

    def missing(self) -> list[int]:
        """Code cells, numbered as nbval numbers them, whose execution was not seen to its end."""
        code = [i for i, cell in enumerate(self.nb.cells) if cell.cell_type == "code"]
        return [number for number, index in enumerate(code) if index not in self.completed]

    def notebook(self) -> nbformat.NotebookNode:
        """The executed notebook, with the widget state in its metadata as nbclient sets it."""
        self.client.set_widgets_metadata()
        return self.nb


def _quiet(source: str) -> bool:
    """Whether IPython hides the cell's result: its code ends with ';'.

    IPython decides it from the last cell stored in its history, and nbval executes
    with store_history=False: under nbval the result of such a cell is shown (a
    figure twice, once as the result), under nbclient and in JupyterLab it is not.
    """
    from IPython.core.displayhook import DisplayHook
    from IPython.core.inputtransformer2 import TransformerManager

    return DisplayHook.semicolon_at_end_of_expression(TransformerManager().transform_cell(source))


def book_cache(notebook: Path) -> tuple[Path | None, str]:
    """The jupyter-cache folder the site build reads for ``notebook``, or None and why not."""
    for folder in notebook.resolve().parents:
        if (folder / "_config.yml").is_file():
            break
    else:
        return None, "no _config.yml above it, so no site build reads a cache for it"
    config = yaml.safe_load((folder / "_config.yml").read_text()) or {}
    execute = config.get("execute") or {}
    mode = execute.get("execute_notebooks", "auto")
    if mode != "cache":
        return None, f"_config.yml says execute_notebooks: {mode}; only 'cache' reads a cache"
    if execute.get("run_in_temp"):
        return None, "_config.yml says run_in_temp: the site build runs it elsewhere than nbval"
    return folder / (execute.get("cache") or DEFAULT_CACHE), ""


def hashkey(nb: nbformat.NotebookNode) -> str:
    """The key under which jupyter-cache files an executed copy of ``nb``."""
    from jupyter_cache.cache.main import JupyterCacheBase

    return JupyterCacheBase(DEFAULT_CACHE).create_hashed_notebook(nb)[1]  # touches no file


def store(nb: nbformat.NotebookNode, path: Path, cache_dir: Path, seconds: float) -> int:
    """Store the executed ``nb`` of ``path`` in ``cache_dir``; returns the record's id.

    The same call as myst-nb's after its own execution (cache_notebook_bundle,
    overwrite=True, check_validity=False), then the same lookup as myst-nb's
    before executing, on the notebook as it is on disk now.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_dir))
    record = cache.cache_notebook_bundle(
        CacheBundleIn(nb, str(path), data={"execution_seconds": seconds, "executed_by": "nbval"}),
        check_validity=False,
        overwrite=True,
        description="executed by nbval (tests/nbval_site_cache.py)",
    )
    found = cache.match_cache_notebook(nbformat.read(path, as_version=4))
    if found.pk != record.pk:
        raise RuntimeError(f"the cache finds record {found.pk} for it, not {record.pk}")
    return record.pk


@dataclass
class _Run:
    """What happened to one notebook in this pytest run."""

    path: Path
    cells: int  # its code cells: nbval makes one test item of each
    passed: set = field(default_factory=set)
    problem: str = ""  # the first reason not to store it
    recorder: NotebookRecorder | None = None
    cache_dir: Path | None = None
    key: str = ""  # the hash of the notebook as nbval read it
    seconds: float = 0.0
    pending: int | None = None  # index in nb.cells of the cell nbval is executing now
    finished: bool = False


class SiteCache:
    """The pytest hooks: follow nbval's items, record their kernels, store complete notebooks."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.runs: dict[str, _Run] = {}
        self.lines: list[str] = []

    @staticmethod
    def _is_cell(item) -> bool:
        from nbval.plugin import IPyNbCell

        return isinstance(item, IPyNbCell)

    def _run(self, item) -> _Run:
        notebook = item.parent
        if notebook.nodeid not in self.runs:
            cells = sum(cell.cell_type == "code" for cell in notebook.nb.cells)
            self.runs[notebook.nodeid] = _Run(Path(notebook.path), cells)
        return self.runs[notebook.nodeid]

    def _spoil(self, run: _Run, problem: str) -> None:
        run.problem = run.problem or problem
        run.recorder = None  # stop recording: nothing will be stored

    def _attach(self, item, run: _Run) -> None:
        """Start recording the kernel of ``item``'s notebook (its first cell, after setup)."""
        if run.recorder is not None or run.problem:
            return
        run.cache_dir, why = book_cache(run.path)
        if run.cache_dir is None:
            run.problem = why
            return
        if any("skip-execution" in cell.metadata.get("tags", []) for cell in item.parent.nb.cells):
            run.problem = "a cell tagged skip-execution: the site build skips it, nbval runs it"
            return
        run.key = hashkey(item.parent.nb)
        kernel = item.parent.kernel
        try:
            msg_id = kernel.kc.kernel_info()
            deadline = time.monotonic() + KERNEL_INFO_TIMEOUT
            while True:
                reply = kernel.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            run.recorder = NotebookRecorder(item.parent.nb)
            run.recorder.kernel_info(reply["content"])
        except Exception as error:  # whatever fails here must not break nbval's run
            self._spoil(run, f"no kernel_info from the kernel ({type(error).__name__}: {error})")
            return

        get_message, execute_cell_input = kernel.get_message, kernel.execute_cell_input

        def tee(stream, timeout=None):
            msg = get_message(stream, timeout=timeout)
            if stream == "iopub" and run.recorder is not None:
                try:
                    run.recorder.message(msg)
                except Exception as error:  # never break nbval's run
                    self._spoil(run, f"recording failed ({type(error).__name__}: {error})")
            return msg

        def execute(cell_input, allow_stdin=None):
            msg_id = execute_cell_input(cell_input, allow_stdin=allow_stdin)
            # only a cell's own execution (not, say, nbval's coverage set-up or tear-down)
            index, run.pending = run.pending, None
            if run.recorder is not None and index is not None:
                try:
                    run.recorder.begin(index, msg_id)
                except Exception as error:  # never break nbval's run
                    self._spoil(run, f"recording failed ({type(error).__name__}: {error})")
            return msg_id

        kernel.get_message, kernel.execute_cell_input = tee, execute

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item):
        result = yield  # nbval starts the notebook's kernel in the first cell's setup
        if self._is_cell(item):
            self._attach(item, self._run(item))
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        if self._is_cell(item):
            cells = item.parent.nb.cells
            self._run(item).pending = next(i for i, c in enumerate(cells) if c is item.cell)
        try:
            return (yield)
        finally:
            if self._is_cell(item):
                self._run(item).pending = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if self._is_cell(item):
            run = self._run(item)
            if report.failed:
                self._spoil(run, f"{item.name} failed ({report.when})")
            elif report.skipped:
                self._spoil(run, f"{item.name} was skipped")
            elif report.when == "call":
                run.passed.add(item.cell_num)
                run.seconds += report.duration
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        try:
            return (yield)
        finally:
            if self._is_cell(item) and (nextitem is None or nextitem.parent is not item.parent):
                self._finish(self._run(item))  # the notebook's last selected cell

    def _finish(self, run: _Run) -> None:
        run.finished = True
        where = self._relative(run.path)
        if not run.problem and len(run.passed) < run.cells:
            run.problem = (
                f"only {len(run.passed)} of its {run.cells} code cells ran "
                "(-k, --deselect or --lf left the others out)"
            )
        if not run.problem and run.recorder is None:
            run.problem = "its kernel was not recorded"
        if not run.problem and run.recorder.missing():
            cells = ", ".join(f"Cell {number}" for number in run.recorder.missing()[:3])
            run.problem = f"the kernel's messages were not all seen ({cells}; has nbval changed?)"
        if not run.problem and hashkey(nbformat.read(run.path, as_version=4)) != run.key:
            run.problem = "the file changed on disk while nbval ran it"
        if run.problem:
            self._say(f"{where}: not stored for the site build: {run.problem}")
            return
        recorder, run.recorder = run.recorder, None
        try:
            nb = recorder.notebook()
            pk = store(nb, run.path, run.cache_dir, run.seconds)
        except Exception as error:  # the site build will execute it instead
            self._say(f"{where}: not stored for the site build: {type(error).__name__}: {error}")
            return
        widgets = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        self._say(
            f"{where}: stored for the site build in {self._relative(run.cache_dir)} "
            f"(record {pk}; {run.cells} code cells, {len(widgets)} widget models, "
            f"{run.seconds:.0f} s)"
        )

    def pytest_sessionfinish(self, session):
        for run in self.runs.values():
            if not run.finished:  # -x, an interrupt: the notebook's last cell never ran
                self._spoil(run, "the run stopped before its last cell")
                self._finish(run)

    def pytest_terminal_summary(self, terminalreporter):
        if self.lines:
            terminalreporter.write_sep("-", "notebooks executed by nbval, for the site build")
            for line in self.lines:
                terminalreporter.write_line(line)

    def _relative(self, path: Path) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.config.rootpath))
        except ValueError:
            return str(path)

    def _say(self, line: str) -> None:
        self.lines.append(line)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"nbval-site-cache: {line}")
