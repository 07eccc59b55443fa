"""Run one chapter at a scale preset with papermill, and record what it computed.

    python tools/run_chapter.py 05 --scale gpu [-p NAME VALUE ...] [--out DIR]
    make run CHAPTER=05 SCALE=gpu

The chapter runs in a fresh kernel with ``TLBOOK_SCALE`` set to the preset
(utils/scale.py), so its settings cell (tagged ``parameters``) picks the
preset's values; each ``-p NAME VALUE`` then overrides one of them in the cell
papermill inserts after it. VALUE is read as a Python literal (``64``,
``1e-4``, ``"(0, 1)"``), else taken as text (``block4``). Only the names the
settings cell assigns are accepted.

The executed notebook goes to ``_build/runs/<chapter>-<preset>-<UTC time>.ipynb``
and a JSON record next to it: chapter, preset, parameters, the settings the
run used, status, wall time, peak memory of the kernel, devices, machine,
versions, git commit, the numbers the chapter recorded (``utils.results.record``,
read from the notebook's glue outputs) and the claims that did not hold. Both
files are written to a temporary name and renamed.

A claim of the text is written for the laptop preset (``checks.written_for``):
at another preset, or with ``-p``, the checks warn instead of stopping the run
(``TLBOOK_CHECKS=warn``), and the record lists the claims that did not hold.
Exit status: 0 when the chapter ran to the end, 1 when a cell failed, 2 for
bad arguments.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `utils` importable
    sys.path.insert(0, str(ROOT))

from utils import scale  # noqa: E402
from utils.assets import atomic_replace, atomic_write_bytes  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
RUNS = ROOT / "_build" / "runs"
SETTINGS_MIME = "application/vnd.tlbook.run+json"
GLUE_PREFIX = "application/papermill.record/"
# Runs in the kernel right after the settings (and papermill's) cell: what this run used.
CAPTURE = """\
# Added by tools/run_chapter.py, not part of the chapter: the settings, devices
# and versions of this run, for its record.
import json as _json, platform as _platform, keras as _keras, tensorflow as _tf
from IPython.display import display as _display
from utils import scale as _scale
_display({{{mime!r}: _json.loads(_json.dumps({{
    "settings": {{_n: globals()[_n] for _n in {names!r} if _n in globals()}},
    "preset": _scale.name(), "devices": _scale.devices(),
    "versions": {{"python": _platform.python_version(),
                 "tensorflow": _tf.__version__, "keras": _keras.__version__}},
}}, default=repr))}}, raw=True)
"""


def chapters() -> dict[str, Path]:
    """The chapters by number, ``{"00": notebooks/00_welcome.ipynb, ...}``."""
    return {path.name[:2]: path for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}


def find_chapter(chapter: str) -> Path:
    """``05``, ``5``, ``05_fine_tuning`` or its path: the chapter's notebook."""
    found = chapters()
    text = chapter.strip()
    if text.isdigit() and text.zfill(2) in found:
        return found[text.zfill(2)]
    for path in found.values():
        if Path(text).stem == path.stem:
            return path
    names = ", ".join(path.stem for path in found.values())
    raise ValueError(f"no chapter {chapter!r}: use a number or a name from {names}")


def settings_cell(notebook) -> tuple[int, list[str]]:
    """Index of the cell tagged ``parameters`` and the UPPER_CASE names it assigns."""
    tagged = [
        i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])
    ]
    if len(tagged) != 1:
        raise ValueError(f"expected one cell tagged 'parameters', found {len(tagged)}")
    tree = ast.parse(notebook.cells[tagged[0]].source)
    names = [
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id.isupper()
    ]
    return tagged[0], names


def parse_value(text: str):
    """A Python literal (number, tuple, dict, True, ...) or, failing that, the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def recorded(notebook) -> tuple[dict, list[str]]:
    """The glued results (``utils.results.record``) and the claims that only warned."""
    results, claims = {}, []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            glue = output.get("metadata", {}).get("scrapbook")
            if glue:
                text = data.get(glue.get("mime_prefix", "") + "text/plain", "")
                results[glue["name"]] = parse_value(text)
            html = data.get("text/html", "")
            if "tlbook-check-warning" in html:
                first = data.get("text/plain", "").splitlines()[:1]
                claims += [line.split(": ", 1)[-1] for line in first]
    return results, claims


def unexpected_errors(notebook) -> list[str]:
    """``"ename: evalue"`` of each error a cell shows, except in cells tagged
    ``raises-exception``, which show an error on purpose (chapter 08's damaged file).

    papermill calls any error output a failure; nbval and nbclient, like this
    function, let such a cell raise and run the cells after it.
    """
    errors = []
    for cell in notebook.cells:
        metadata = cell.get("metadata", {})
        if "raises-exception" in metadata.get("tags", []):
            continue
        shown = [
            f"{output.ename}: {output.evalue}"
            for output in cell.get("outputs", [])
            if output.get("output_type") == "error"
        ]
        if not shown and metadata.get("papermill", {}).get("exception"):
            shown = ["CellExecutionError: a cell failed without an error output"]
        errors += shown
    return errors


def captured(notebook) -> dict:
    """What the capture cell displayed (empty if the run failed before it)."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if SETTINGS_MIME in output.get("data", {}):
                return dict(output["data"][SETTINGS_MIME])
    return {}


def _command(*args: str) -> str | None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=20, cwd=ROOT)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def machine() -> dict:
    """This computer: CPU model and cores, memory, GPUs (nvidia-smi), platform."""
    import psutil

    cpu = None
    if Path("/proc/cpuinfo").is_file():
        models = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = models[0] if models else None
    gpus = None
    if shutil.which("nvidia-smi"):
        query = "--query-gpu=name,memory.total,driver_version"
        listed = _command("nvidia-smi", query, "--format=csv,noheader")
        gpus = listed.splitlines() if listed else None
    return {
        "cpu": cpu or platform.processor() or None,
        "cpu_cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gpus": gpus or [],
        "platform": platform.platform(),
    }


class PeakMemory:
    """Largest resident memory of this process's children (the kernel), sampled every 0.2 s."""

    def __init__(self):
        import psutil

        self._me, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        import psutil

        while not self._stop.wait(0.2):
            total = 0
            for child in self._me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _translator():
    """papermill's Python translator, writing every value as repr() (tuples stay tuples)."""
    from papermill.translators import PythonTranslator, papermill_translators

    class ReprTranslator(PythonTranslator):
        @classmethod
        def translate(cls, val):
            return repr(val)

    papermill_translators.register("python", ReprTranslator)


def prepare(chapter: str, preset: str, parameters: dict):
    """Check the arguments (ValueError says what is wrong); the notebook to execute."""
    import nbformat

    path = find_chapter(chapter)
    if preset not in scale.PRESETS:
        raise ValueError(f"no scale preset {preset!r}: use one of {', '.join(scale.PRESETS)}")
    notebook = nbformat.read(path, as_version=4)
    index, names = settings_cell(notebook)
    unknown = sorted(set(parameters) - set(names))
    if unknown:
        raise ValueError(
            f"{path.stem} has no setting {', '.join(unknown)}: its settings are {', '.join(names)}"
        )
    capture = nbformat.v4.new_code_cell(CAPTURE.format(mime=SETTINGS_MIME, names=names))
    capture.id = "tlbook-run-record"
    notebook.cells.insert(index + 1, capture)
    return path, notebook


def run(chapter: str, preset: str, parameters: dict, out: Path = RUNS) -> tuple[dict, Path]:
    """Execute the chapter at ``preset`` with ``parameters``; return its record and JSON path.

    Sets ``TLBOOK_SCALE`` (and, off the laptop values, ``TLBOOK_CHECKS=warn``) in this
    process's environment, which the kernel inherits.
    """
    import nbformat
    import papermill
    from papermill.execute import ERROR_MARKER_TAG

    path, notebook = prepare(chapter, preset, parameters)
    # The kernel inherits this process's environment. The claims were written for the
    # laptop values: at another preset, or with other values, they warn.
    os.environ[scale.VARIABLE] = preset
    if preset != "laptop" or parameters:
        os.environ["TLBOOK_CHECKS"] = "warn"
    started = datetime.datetime.now(datetime.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    target, n = out / f"{path.stem}-{preset}-{stamp}.ipynb", 1
    while target.exists() or target.with_suffix(".json").exists():
        n += 1
        target = out / f"{path.stem}-{preset}-{stamp}-{n}.ipynb"
    print(f"running {path.stem} at the {preset} preset, parameters {parameters or 'none'}")
    print(f"into {target}", flush=True)

    _translator()
    # papermill warns that it cannot read `scale.pick(...)` as a literal: the names
    # were checked above, and its values are the preset's.
    logging.getLogger("papermill").setLevel(logging.ERROR)
    status, error, cell_failed = "ok", None, False
    clock = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, atomic_replace(target) as partial:
        source = Path(tmp) / path.name
        nbformat.write(notebook, source)
        with PeakMemory() as memory, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*does not end in one of")
            try:
                papermill.execute_notebook(
                    str(source), str(partial), parameters=parameters or None, cwd=str(NOTEBOOKS),
                    progress_bar=False, kernel_name="python3",
                )  # fmt: skip
            except papermill.PapermillExecutionError as failure:
                status, error = "failed", f"{failure.ename}: {failure.evalue}"[:2000]
                cell_failed = True
            except Exception as failure:  # the kernel died, or could not start
                status, error = "failed", f"{type(failure).__name__}: {failure}"[:2000]
        seconds = time.perf_counter() - clock
        executed = nbformat.read(partial, as_version=4) if partial.stat().st_size else notebook
        if status == "failed" and cell_failed:  # only errors shown on purpose: it ran to the end
            errors = unexpected_errors(executed)
            status, error = ("failed", errors[0][:2000]) if errors else ("ok", None)
            if status == "ok":  # papermill's banner says an exception stopped the run
                executed.cells = [
                    cell for cell in executed.cells
                    if ERROR_MARKER_TAG not in cell.metadata.get("tags", [])
                ]  # fmt: skip
        executed.metadata.setdefault("papermill", {})
        executed.metadata.papermill.update(
            input_path=str(path.relative_to(ROOT)), output_path=str(target.relative_to(out))
        )
        nbformat.write(executed, partial)

    results, claims = recorded(executed)
    kernel = captured(executed)
    commit = _command("git", "rev-parse", "HEAD")
    record = {
        "chapter": path.stem,
        "preset": preset,
        "parameters": parameters,
        "settings": kernel.get("settings"),
        "status": status,
        "error": error,
        "wall_seconds": round(seconds, 1),
        "peak_memory_mib": round(memory.peak / 2**20) if memory.peak else None,
        "devices": kernel.get("devices"),
        "machine": machine(),
        "versions": {**kernel.get("versions", {}), "papermill": papermill.__version__},
        "git": {
            "commit": commit,
            "dirty": bool(_command("git", "status", "--porcelain")) if commit else None,
        },
        "checks": os.environ.get("TLBOOK_CHECKS") or "default (strict in CI, else warn)",
        "results": results,
        "claims_not_held": claims,
        "started": started.isoformat(timespec="seconds"),
        "notebook": target.name,
    }
    record_path = target.with_suffix(".json")
    text = json.dumps(record, indent=1, ensure_ascii=False, default=repr) + "\n"
    atomic_write_bytes(record_path, text.encode())
    return record, record_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", help="number (05) or name (05_fine_tuning) of the chapter")
    parser.add_argument(
        "--scale", default=os.environ.get(scale.VARIABLE, "").strip().lower() or "laptop",
        help=f"one of {', '.join(scale.PRESETS)} (default: TLBOOK_SCALE, else laptop)",
    )  # fmt: skip
    parser.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="override one setting of the chapter; repeat for more",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RUNS, help=f"folder (default {RUNS})")
    args = parser.parse_args(argv)
    parameters = {}
    for name, value in args.parameter:
        if name in parameters:
            parser.error(f"-p {name} is given twice")
        parameters[name] = parse_value(value)
    try:
        prepare(args.chapter, args.scale, parameters)
    except ValueError as error:
        parser.error(str(error))
    record, record_path = run(args.chapter, args.scale, parameters, args.out)
    print(
        f"{record['status']}: {record['wall_seconds']} s, peak {record['peak_memory_mib']} MiB, "
        f"{len(record['results'])} results, {len(record['claims_not_held'])} claims not held"
    )
    if record["error"]:
        print(record["error"].splitlines()[0], file=sys.stderr)
    print(f"record: {record_path}")
    return 0 if record["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
