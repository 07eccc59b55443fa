"""A reader who changes a chapter's settings gets warnings, never a crash.

Each chapter below runs once, top to bottom, in a reader's session
(``TLBOOK_CHECKS=warn``) with settings the chapter invites a reader to change,
pushed to a documented extreme: another seed, the smallest label budgets, the
fewest epochs. (The expensive extremes, 64 px or 500 labels per class, share
the same code paths and only cost more time.) A check whose claim no longer
holds must warn and let the chapter run on; any exception fails the test.
"""

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent

# chapter -> lines appended to its settings cell
READER_SETTINGS = {
    "04_feature_extraction": (
        "SEED = 1\nTRAIN_PER_CLASS = 10\nRECIPE_EPOCHS = 1\nHEAD_EPOCHS = 3\nPATIENCE = 1"
    ),
    "05_fine_tuning": (
        "SEED = 3\nSEEDS = (3,)\nTRAIN_PER_CLASS = 10\nVAL_PER_CLASS = 10\nHEAD_EPOCHS = 2\n"
        "FINE_TUNE_EPOCHS = 1"
    ),
    "06_full_fine_tuning": (
        "SEED = 1\nSEEDS = (1, 2)\nTRAIN_PER_CLASS = 5\nVAL_PER_CLASS = 10\nHEAD_EPOCHS = 2\n"
        "FULL_EPOCHS = 1\nLEARNING_RATES = (1e-4, 1e-5)"
    ),
    "07_choosing_a_strategy": (
        "SEEDS = (5,)\nSIZES = (2, 5)\nVAL_PER_CLASS = 10\nHEAD_EPOCHS = 2\nFINE_TUNE_EPOCHS = 1"
    ),
    "09_limits_and_pitfalls": (
        "SEED = 1\nSEEDS = (1,)\nTRAIN_PER_CLASS = 20\nFEW_LABELS = (2, 5)\nDRAWS = 1\n"
        "HEAD_EPOCHS = 3\nCNN_EPOCHS = 2"
    ),
    "10_knowledge_distillation": (
        "SEED = 1\nTRAIN_PER_CLASS = 20\nHEAD_EPOCHS = 3\nSTUDENT_EPOCHS = 2\n"
        "STUDENT_SEEDS = (1,)"
    ),
}


def with_reader_settings(path: Path, overrides: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    settings = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and "checks.written_for(" in cell.source
    ]
    assert len(settings) == 1, f"{path.name}: expected one settings cell with written_for"
    settings[0].source += "\n# a reader's settings\n" + overrides
    return notebook


@pytest.mark.parametrize("chapter", sorted(READER_SETTINGS))
def test_chapter_runs_to_the_end_with_reader_settings(chapter, monkeypatch, tmp_path):
    monkeypatch.setenv("TLBOOK_CHECKS", "warn")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    path = ROOT / "notebooks" / f"{chapter}.ipynb"
    notebook = with_reader_settings(path, READER_SETTINGS[chapter])
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError on any exception
    warnings = sum(
        "tlbook-check-warning" in json.dumps(output.get("data", {}))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    print(f"{chapter}: ran to the end; {warnings} claims did not hold and warned")
