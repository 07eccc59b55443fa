"""Where each chapter's time goes: the slowest cells of executed notebooks.

    .venv/bin/python benchmarks/run_chapters.py --in-order --keep /tmp/executed
    .venv/bin/python benchmarks/cell_costs.py /tmp/executed

Reads the execution times that Jupyter records in every executed code cell
(``metadata.execution``: from ``iopub.execute_input`` to
``shell.execute_reply``) and writes ``benchmarks/cell_costs.md``: per chapter,
the time of all its cells, the cells that took at least ``--min-seconds``, and
the section each of those belongs to. It is the
inventory behind the book's time budget (the whole book in at most 15 minutes here):
which experiment costs what, so that a cut can be chosen for its lesson. A
benchmark's report, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent / "cell_costs.md"


def _seconds(cell: dict) -> float | None:
    times = cell.get("metadata", {}).get("execution", {})
    start, end = times.get("iopub.execute_input"), times.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def cell_costs(notebook: Path) -> tuple[float, list[dict]]:
    """All code cells' seconds, and one row per executed code cell: its number, seconds, section."""
    cells = json.loads(notebook.read_text())["cells"]
    section, rows, total = "(top)", [], 0.0
    for number, cell in enumerate(cells):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            headings = [line for line in source.splitlines() if line.startswith("#")]
            if headings:
                section = headings[-1].lstrip("#").strip()
            continue
        seconds = _seconds(cell)
        if seconds is None:
            continue
        total += seconds
        rows.append({"cell": number, "seconds": seconds, "section": section})
    return total, rows


def report(folder: Path, min_seconds: float) -> str:
    notebooks = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SystemExit(f"no executed chapters (NN_*.ipynb) in {folder}")
    executed = datetime.fromtimestamp(max(n.stat().st_mtime for n in notebooks))
    lines = [
        f"Cells that took at least {min_seconds:g} s in the chapters executed on "
        f"{executed:%Y-%m-%d} (`benchmarks/run_chapters.py --keep`), as Jupyter "
        "recorded each cell's time; a chapter's wall time adds its kernel's start.",
        "",
        "| chapter | all cells (s) | cell | s | section |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    grand = 0.0
    for notebook in notebooks:
        total, rows = cell_costs(notebook)
        grand += total
        slow = sorted((r for r in rows if r["seconds"] >= min_seconds), key=lambda r: -r["seconds"])
        chapter, all_cells = notebook.stem, f"{total:.1f}"
        if not slow:
            lines.append(f"| {chapter} | {all_cells} | | | |")
        for row in slow:
            section = row["section"].replace("|", "\\|")
            lines.append(
                f"| {chapter} | {all_cells} | {row['cell']} | {row['seconds']:.1f} | {section} |"
            )
            chapter = all_cells = ""  # on the chapter's first row only
    lines += ["", f"All cells of all chapters: {grand:.1f} s.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="executed notebooks (run_chapters.py --keep)")
    parser.add_argument("--min-seconds", type=float, default=5.0)
    args = parser.parse_args()
    text = report(args.folder, args.min_seconds)
    OUT.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
