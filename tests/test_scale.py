"""The scale knob: utils/scale.py, every chapter's settings cell, and tools/run_chapter.py.

The settings cells are executed alone, with TensorFlow's device list stubbed, so
these checks take seconds: at the default (laptop) preset every value must be
the one the chapter's text was written for (``checks.written_for``), and at the
other presets the values must be ones the chapter's code can take. The two runs
of tools/run_chapter.py at the end execute a whole chapter at tiny size.
"""

import ast
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import tools.run_chapter as tools_run_chapter
from tools.run_chapter import settings_cell
from utils import checks, scale

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
OTHERS = [preset for preset in scale.PRESETS if preset != "laptop"]


@pytest.fixture(autouse=True)
def no_preset(monkeypatch):
    monkeypatch.delenv(scale.VARIABLE, raising=False)
    monkeypatch.setattr(scale, "devices", lambda: ["CPU:0"])  # no TensorFlow here
    yield
    checks.written_for()  # forget what a settings cell recorded


# --------------------------------------------------------------------------- utils/scale.py


@pytest.mark.parametrize("value", [None, "", "  "])
def test_the_default_preset_is_laptop(value, monkeypatch):
    if value is not None:
        monkeypatch.setenv(scale.VARIABLE, value)
    assert scale.name() == "laptop"
    assert scale.PRESETS == ("laptop", "workstation", "gpu")


@pytest.mark.parametrize("preset", scale.PRESETS)
def test_each_preset_picks_its_own_value(preset, monkeypatch):
    monkeypatch.setenv(scale.VARIABLE, f" {preset.upper()} ")
    assert scale.name() == preset
    assert (
        scale.pick(laptop=1, workstation=2, gpu=3)
        == {"laptop": 1, "workstation": 2, "gpu": 3}[preset]
    )


def test_an_unknown_preset_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv(scale.VARIABLE, "cluster")
    for call in (scale.name, lambda: scale.pick(laptop=1), lambda: scale.describe("00_x")):
        with pytest.raises(ValueError, match="'cluster'.*laptop, workstation, gpu"):
            call()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"laptop": 1}, (1, 1, 1)),
        ({"laptop": 1, "workstation": 2}, (1, 2, 2)),
        ({"laptop": 1, "gpu": 3}, (1, 1, 3)),
        ({"laptop": (10, 100), "workstation": None}, ((10, 100), None, None)),  # None is a value
        ({"laptop": 0, "workstation": 0, "gpu": 5}, (0, 0, 5)),
    ],
)
def test_a_preset_left_out_keeps_the_next_smaller_presets_value(values, expected, monkeypatch):
    for preset, value in zip(scale.PRESETS, expected, strict=True):
        monkeypatch.setenv(scale.VARIABLE, preset)
        assert scale.pick(**values) == value


@pytest.mark.parametrize(
    "call",
    [
        lambda: scale.pick(workstation=2, gpu=3),  # no laptop value
        lambda: scale.pick(32),  # positional
        lambda: scale.pick(laptop=1, cluster=2),  # no such preset
    ],
)
def test_pick_needs_a_laptop_value_and_known_presets_by_name(call):
    with pytest.raises(TypeError):
        call()


def _measured_book(root: Path, runs: list[dict]) -> Path:
    """A book folder with a `make bench` table and `make run` records."""
    (root / "benchmarks").mkdir()
    bench = {
        "machine": {"cpu_cores": 2, "date": "2026-12-05"},
        "chapters": [{"chapter": "05_x", "seconds": 150.0, "peak_mib": 1536, "status": "ok"}],
    }
    (root / "benchmarks" / "results.json").write_text(json.dumps(bench))
    (root / "_build" / "runs").mkdir(parents=True)
    for number, record in enumerate(runs):
        (root / "_build" / "runs" / f"05_x-{number}.json").write_text(json.dumps(record))
    return root


GPU_RUN = {
    "preset": "gpu",
    "status": "ok",
    "devices": ["CPU:0", "GPU:0"],
    "wall_seconds": 90.0,
    "peak_memory_mib": 3072,
    "started": "2026-12-06T10:00:00+00:00",
}


def test_report_prints_the_preset_the_devices_and_the_measured_cost(monkeypatch, capsys, tmp_path):
    root = _measured_book(tmp_path, [GPU_RUN, dict(GPU_RUN, preset="workstation", status="failed")])
    monkeypatch.setattr(scale, "ROOT", root)
    assert scale.report("05_x") is None
    first, second = capsys.readouterr().out.splitlines()
    assert "laptop (the default)" in first and "CPU:0" in first
    assert second == (
        "Measured cost at laptop: 2.5 min and 1.5 GiB on 2 CPU cores (make bench, 2026-12-05)"
    )
    monkeypatch.setenv(scale.VARIABLE, "gpu")
    line = scale.describe("05_x", root)
    assert "gpu (TLBOOK_SCALE=gpu)" in line
    assert "at gpu: 1.5 min and 3.0 GiB on CPU:0, GPU:0 (make run, 2026-12-06)" in line
    monkeypatch.setenv(scale.VARIABLE, "workstation")  # its only run failed: no measurement
    assert "Cost at workstation: not measured yet (laptop: 2.5 min" in scale.describe("05_x", root)


def test_report_without_measurements_says_so(tmp_path):
    line = scale.describe("05_x", tmp_path)
    assert line.endswith("Cost at laptop: not measured yet")


@pytest.mark.parametrize("chapter", ["", None, 5])
def test_report_needs_the_chapter_name(chapter):
    with pytest.raises(ValueError):
        scale.describe(chapter)


def test_devices_leaves_the_logical_devices_configurable():
    """Chapter 11 splits the CPU after the settings cell: devices() must not prevent it."""
    code = (
        "from utils import scale; import tensorflow as tf; print(scale.devices()); "
        "cpu = tf.config.list_physical_devices('CPU')[0]; "
        "tf.config.set_logical_device_configuration("
        "cpu, [tf.config.LogicalDeviceConfiguration()] * 2); "
        "print(len(tf.config.list_logical_devices('CPU')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    listed, logical = done.stdout.strip().splitlines()[-2:]
    assert "CPU:0" in ast.literal_eval(listed) and logical == "2"


# --------------------------------------------------------------------------- settings cells


def run_settings_cell(path: Path) -> tuple[dict, list[str], str]:
    """Execute a chapter's settings cell alone: its namespace, UPPER_CASE names, output."""
    notebook = nbformat.read(path, as_version=4)
    index, names = settings_cell(notebook)
    namespace = {"checks": checks}  # what the cells above it import; scale it imports itself
    with contextlib.redirect_stdout(io.StringIO()) as output:
        exec(compile(notebook.cells[index].source, f"{path.name}, settings", "exec"), namespace)
    return namespace, names, output.getvalue()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_settings_cell_is_tagged_and_scale_aware(path):
    cells = json.loads(path.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: tag the settings cell (only it) 'parameters'"
    source = "".join(tagged[0]["source"])
    assert "checks.written_for(" in source, "the settings cell records written_for"
    assert f'scale.report("{path.stem}")' in source and "scale.pick(" in source
    assert all(
        "checks.written_for(" not in "".join(c["source"]) for c in cells if c is not tagged[0]
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_laptop_values_are_the_ones_the_text_was_written_for(path):
    namespace, names, output = run_settings_cell(path)
    written = dict(checks._written_for)
    assert set(written) == set(names), "written_for lists every setting, and only those"
    assert checks.changed_settings(namespace) == {}
    assert output.startswith("Scale preset: laptop (the default)")
    assert "cost at laptop: " in output.lower()


# The most each count may be: the bundled subset has 600 training images per class,
# the full set 6,000; data.book_split keeps 100 of them for validation (chapter 02
# samples all 600 bundled ones).
LIMITS = {"PROBE_PER_CLASS": 600, "TRAIN_PER_CLASS": 500, "SIZES": 500}
FULL_LIMITS = {"TRAIN_PER_CLASS": 5900, "SIZES": 5900}


@pytest.mark.parametrize("preset", OTHERS)
def test_other_presets_give_values_the_chapters_can_take(preset, monkeypatch):
    monkeypatch.setenv(scale.VARIABLE, preset)
    values = {}
    for path in CHAPTERS:
        namespace, names, output = run_settings_cell(path)
        assert output.startswith(f"Scale preset: {preset} (TLBOOK_SCALE={preset})")
        values[path.stem[:2]] = settings = {name: namespace[name] for name in names}
        size = settings.get("IMAGE_SIZE", 32)
        assert isinstance(size, int) and 32 <= size <= 224, path.name
        assert settings.get("DATA", "bundled") in ("bundled", "full"), path.name
        limits = {**LIMITS, **FULL_LIMITS} if settings.get("DATA") == "full" else LIMITS
        for name, limit in limits.items():
            counts = settings.get(name, ())
            counts = counts if isinstance(counts, tuple) else (counts,)
            limit = 600 if path.stem.startswith("02") else limit
            assert all(isinstance(n, int) and 1 <= n <= limit for n in counts), (path.name, name)
    # chapter 02 keeps N below D = 4,096, the features of a 32 px image after block3
    assert values["02"]["IMAGE_SIZE"] == 32 and 10 * values["02"]["TRAIN_PER_CLASS"] < 4096
    # chapters 04 to 09 share one split and one image size; 07 reuses 05's runs
    assert len({values[n]["IMAGE_SIZE"] for n in ("04", "05", "06", "07", "08", "09")}) == 1
    # chapters 04 to 07 read the same images: the bundled subset, or the full set at gpu
    assert len({values[n]["DATA"] for n in ("04", "05", "06", "07")}) == 1
    assert values["05"]["DATA"] == ("full" if preset == "gpu" else "bundled")
    for name in ("HEAD_EPOCHS", "FINE_TUNE_EPOCHS", "VAL_PER_CLASS", "SEEDS"):
        assert values["05"][name] == values["07"][name], name
    # chapter 09's distillation needs bundled images left over after train + validation
    assert values["09"]["TRAIN_PER_CLASS"] + 100 < 600


# --------------------------------------------------------------------------- run_chapter.py


def run_chapter(*args, timeout=120, **env):
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_chapter.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["42"], "no chapter '42': use a number or a name from 00_welcome"),
        (["02", "--scale", "cluster"], "no scale preset 'cluster': use one of laptop"),
        (["02", "-p", "EPOCHS", "1"], "02_the_objective has no setting EPOCHS: its settings are"),
        (["02", "-p", "STEPS", "1", "-p", "STEPS", "2"], "-p STEPS is given twice"),
    ],
)
def test_run_chapter_rejects_bad_arguments_with_a_clear_message(args, message, tmp_path):
    done = run_chapter(*args, "--out", str(tmp_path))
    assert done.returncode == 2 and message in done.stderr
    assert not list(tmp_path.iterdir())


def test_run_record_reads_the_glued_results_and_the_claims_that_warned():
    from myst_nb.ext.glue import GLUE_PREFIX

    def glued(key, text, prefix=GLUE_PREFIX):  # what utils.results.record leaves
        meta = {"scrapbook": {"name": key, "mime_prefix": prefix}}
        return nbformat.v4.new_output("display_data", {prefix + "text/plain": text}, metadata=meta)

    notice = checks._Notice(checks._message("ImageNet beats random", "0.50 and 0.60", {}))
    warned = {"text/plain": repr(notice), "text/html": notice._repr_html_()}
    outputs = [
        glued("ch00_probe_imagenet", "0.609"),
        glued("ch06_best_learning_rate", "'0.0001'"),
        glued("ch00_shown", "7", prefix=""),
        nbformat.v4.new_output("display_data", warned),
        nbformat.v4.new_output("stream", name="stdout", text="ch00_probe_random 0.3"),
    ]
    cell = nbformat.v4.new_code_cell("...", outputs=outputs)
    results, claims = tools_run_chapter.recorded(nbformat.v4.new_notebook(cells=[cell]))
    assert results == {
        "ch00_probe_imagenet": 0.609,
        "ch06_best_learning_rate": "0.0001",
        "ch00_shown": 7,
    }
    assert claims == ["ImageNet beats random"]


# The cheapest chapters, cut down to seconds; the preset's other values still apply.
def _error_cell(tags=()):
    cell = nbformat.v4.new_code_cell("raise ValueError('bad file')")
    cell.metadata["tags"] = list(tags)
    cell.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="bad file")]
    return cell


def test_only_errors_outside_raises_exception_cells_count():
    expected = _error_cell(["raises-exception"])
    assert tools_run_chapter.unexpected_errors(nbformat.v4.new_notebook(cells=[expected])) == []
    notebook = nbformat.v4.new_notebook(cells=[expected, _error_cell()])
    assert tools_run_chapter.unexpected_errors(notebook) == ["ValueError: bad file"]
    silent = nbformat.v4.new_code_cell("x")  # papermill's mark of a failure without output
    silent.metadata["papermill"] = {"exception": True}
    assert tools_run_chapter.unexpected_errors(nbformat.v4.new_notebook(cells=[silent])) == [
        "CellExecutionError: a cell failed without an error output"
    ]


@pytest.mark.parametrize("also_failing", [False, True])
def test_a_chapter_that_shows_an_error_on_purpose_ran_to_the_end(
    also_failing, tmp_path, monkeypatch
):
    """Chapter 08 shows a damaged file's error in a cell tagged raises-exception and
    runs on; papermill calls that a failure, `make run` must not (it did)."""
    import papermill
    from papermill.execute import ERROR_MARKER_TAG

    def execute_notebook(source, output, **kwargs):
        banner = nbformat.v4.new_markdown_cell("An Exception was encountered")
        banner.metadata["tags"] = [ERROR_MARKER_TAG]
        cells = [banner, _error_cell(["raises-exception"]), nbformat.v4.new_code_cell("1")]
        if also_failing:
            cells.append(_error_cell())
        nbformat.write(nbformat.v4.new_notebook(cells=cells), output)
        raise papermill.PapermillExecutionError(1, 1, "", "ValueError", "bad file", [])

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    monkeypatch.setenv(scale.VARIABLE, "laptop")
    monkeypatch.delenv("TLBOOK_CHECKS", raising=False)
    record, record_path = tools_run_chapter.run("08", "laptop", {}, out=tmp_path)
    if also_failing:
        assert (record["status"], record["error"]) == ("failed", "ValueError: bad file")
        return
    assert (record["status"], record["error"]) == ("ok", None)
    notebook = nbformat.read(tmp_path / record["notebook"], as_version=4)
    assert not [c for c in notebook.cells if ERROR_MARKER_TAG in c.metadata.get("tags", [])]


SMOKE = {
    "workstation": ("02", {"TRAIN_PER_CLASS": "5"}),  # STEPS stays the preset's 200
    "gpu": ("00", {"IMAGE_SIZE": "32", "PROBE_PER_CLASS": "5"}),
}


@pytest.mark.parametrize("preset", sorted(SMOKE))
def test_run_chapter_records_a_run_at_tiny_size(preset, tmp_path, monkeypatch):
    chapter, overrides = SMOKE[preset]
    args = [chapter, "--scale", preset, "--out", str(tmp_path)]
    for name, value in overrides.items():
        args += ["-p", name, value]
    # As in CI: the run must warn, not stop, on claims written for the laptop values.
    done = run_chapter(*args, timeout=300, CI="true", TLBOOK_CHECKS="strict")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (record_path,) = tmp_path.glob("*.json")
    assert re.fullmatch(rf"{chapter}_[a-z_]+-{preset}-\d{{8}}T\d{{6}}Z\.json", record_path.name)
    record = json.loads(record_path.read_text())
    assert record["status"] == "ok" and record["error"] is None
    assert record["chapter"].startswith(chapter) and record["preset"] == preset
    assert record["parameters"] == {name: int(value) for name, value in overrides.items()}
    # the settings the kernel used: the preset's values, then the parameters
    monkeypatch.setenv(scale.VARIABLE, preset)
    namespace, names, _ = run_settings_cell(tools_run_chapter.find_chapter(chapter))
    expected = {name: namespace[name] for name in names} | record["parameters"]
    assert record["settings"] == json.loads(json.dumps(expected))
    assert record["checks"] == "warn"
    # what the chapter recorded with utils.results.record (chapter 02 records nothing)
    recorded = {"00": {"ch00_probe_imagenet", "ch00_probe_random"}, "02": set()}[chapter]
    assert set(record["results"]) == recorded
    assert all(0 <= value <= 1 for value in record["results"].values())
    assert all(isinstance(claim, str) for claim in record["claims_not_held"])
    assert "CPU:0" in record["devices"]
    assert set(record["versions"]) == {"python", "tensorflow", "keras", "papermill"}
    assert record["wall_seconds"] > 0 and record["peak_memory_mib"] > 100
    assert record["machine"]["cpu_cores"] == os.cpu_count()
    notebook = json.loads((tmp_path / record["notebook"]).read_text())
    tags = [tag for cell in notebook["cells"] for tag in cell["metadata"].get("tags", [])]
    assert "injected-parameters" in tags
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".ipynb", ".json"]  # no leftovers
