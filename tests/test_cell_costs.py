"""benchmarks/cell_costs.py: the slowest cells of executed chapters, by section."""

import json

import pytest

from benchmarks import cell_costs


def _cell(kind, source, seconds=None):
    cell = {"cell_type": kind, "source": source, "metadata": {}}
    if seconds is not None:
        cell["metadata"]["execution"] = {
            "iopub.execute_input": "2026-12-06T22:00:00.000000Z",
            "shell.execute_reply": f"2026-12-06T22:00:{seconds:09.6f}Z",
        }
    return cell


def _write(folder, name, cells):
    path = folder / name
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}))
    return path


def test_cells_are_timed_and_placed_in_their_section(tmp_path):
    path = _write(
        tmp_path,
        "05_fine_tuning.ipynb",
        [
            _cell("code", "import time\n", 1.5),
            _cell("markdown", "## Stage 1\n\ntext\n### The head\n"),
            _cell("code", "\n\nhead.fit(x)  # a | b\n", 12.25),
            _cell("code", "not executed\n"),
        ],
    )
    total, rows = cell_costs.cell_costs(path)
    assert total == pytest.approx(13.75)
    assert rows == [
        {"cell": 0, "seconds": pytest.approx(1.5), "section": "(top)"},
        {"cell": 2, "seconds": pytest.approx(12.25), "section": "The head"},
    ]


def test_report_lists_slow_cells_with_the_chapter_on_its_first_row(tmp_path):
    _write(tmp_path, "00_welcome.ipynb", [_cell("code", "x = 1\n", 1.0)])
    _write(
        tmp_path,
        "05_fine_tuning.ipynb",
        [
            _cell("code", "slow()\n", 30.0),
            _cell("markdown", "## Stage 2 | the block\n"),
            _cell("code", "slower()\n", 20.0),
        ],
    )
    _write(tmp_path, "notes.ipynb", [_cell("code", "ignored()\n", 50.0)])
    lines = cell_costs.report(tmp_path, min_seconds=5).splitlines()
    table = [line for line in lines if line.startswith("| 0") or line.startswith("|  |")]
    assert table == [
        "| 00_welcome | 1.0 | | | |",
        "| 05_fine_tuning | 50.0 | 0 | 30.0 | (top) |",
        "|  |  | 2 | 20.0 | Stage 2 \\| the block |",
    ]
    assert lines[-1] == "All cells of all chapters: 51.0 s."


def test_a_folder_without_executed_chapters_is_an_error(tmp_path):
    with pytest.raises(SystemExit, match="no executed chapters"):
        cell_costs.report(tmp_path, min_seconds=5)
