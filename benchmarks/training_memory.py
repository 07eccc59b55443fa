"""Benchmark: peak memory of training on memory-mapped features, batches or indexed rows.

    .venv/bin/python benchmarks/training_memory.py [--size 64] [--counts 20000 40000]
        [--steps 10] [--indexed-count 20000]

What chapter 05 does with the full set (the ``gpu`` preset), at ``--size`` px
(64, the workstation preset's size, by default) and with random numbers in
place of real features: two memory-mapped files of ``count`` rows, block2's
output ``z`` and block3's output ``f``, then stage 1 (``standardized_head``
on the rows, one whole epoch of the head) and stage 2 (block3 and the head,
``--steps`` gradient steps: a whole epoch through block3 would take minutes
and reads the file the same way). Modes, each in a new process:
``batches`` (``feature_rows.Batches`` and the statistics read a chunk at a
time, what the chapter does) and ``indexed`` (``f_all[train]`` and
``z_all[train]`` in memory, what it did before). The process samples its own
``RssAnon`` (memory it owns) and ``RssFile`` (pages of mapped files, which the
kernel can drop and read again) every 0.05 s. The table goes to
``training_memory.md`` beside this file (or ``--out``). Linux only. A benchmark, not a test:
it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from memory_sampler import run_child  # beside this file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utils.assets import atomic_write_bytes  # noqa: E402

CHILD = r"""
import json, sys, time
sys.path[:0] = [{root!r}, {root!r} + "/benchmarks"]
from memory_sampler import start
peak = start()
import keras, numpy as np
from utils import feature_rows, finetune, models, training, weights
z_all = np.load({z!r}, mmap_mode="r")
f_all = np.load({f!r}, mmap_mode="r")
y_all = np.arange(len(z_all)) % 10
train = np.arange(len(z_all))
training.seed_everything(0)
vgg = weights.load_vgg16(None, input_shape=({size}, {size}, 3))  # memory: any weights
time.sleep(0.2)
before = dict(peak)
start = time.perf_counter()
batches = {mode!r} == "batches"
head = (models.standardized_head(f_all, train) if batches
        else models.standardized_head(f_all[train]))
head.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
if batches:
    head.fit(feature_rows.Batches(f_all, y_all, train, 128, shuffle=True),
             epochs=1, verbose=0)
else:
    head.fit(f_all[train], y_all[train], batch_size=128, epochs=1, verbose=0)
stage1 = dict(peak)
block3 = finetune.block_on_features(vgg, "block3", z_all.shape[1:])
inputs = keras.Input(z_all.shape[1:])
model = keras.Model(inputs, head(block3(inputs)))
model.compile(optimizer=keras.optimizers.Adam(1e-5),
              loss="sparse_categorical_crossentropy")
if batches:
    model.fit(feature_rows.Batches(z_all, y_all, train, 64, shuffle=True),
              epochs=1, steps_per_epoch={steps}, verbose=0)
else:
    model.fit(z_all[train], y_all[train], batch_size=64, epochs=1,
              steps_per_epoch={steps}, verbose=0)
seconds = time.perf_counter() - start
time.sleep(0.2)
print(json.dumps({{"before": before, "stage1": stage1, "peak": peak,
                  "seconds": seconds}}))
"""


def write_random(path: Path, shape: tuple[int, ...], chunk: int = 2048) -> None:
    """A .npy file of float32 random numbers, written a chunk of rows at a time."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    rng = np.random.default_rng(0)
    for start in range(0, shape[0], chunk):
        rows = min(chunk, shape[0] - start)
        array[start : start + rows] = rng.random((rows, *shape[1:]), dtype=np.float32)
    array.flush()
    del array


def run(mode: str, size: int, steps: int, z: Path, f: Path) -> dict:
    code = CHILD.format(root=str(ROOT), size=size, steps=steps, mode=mode, z=str(z), f=str(f))
    return run_child(code, mode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--counts", type=int, nargs="+", default=[20000, 40000])
    parser.add_argument(
        "--indexed-count", type=int, default=20000, help="rows for the indexed mode (0: skip it)"
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("training_memory.md"))
    args = parser.parse_args()
    z_shape, f_shape = (args.size // 4, args.size // 4, 128), (args.size // 8, args.size // 8, 256)
    lines = [
        f"Measured on {datetime.datetime.now().isoformat(timespec='seconds')}, "
        f"{os.cpu_count()} CPUs. Command: `python benchmarks/training_memory.py "
        f"--size {args.size} --counts {' '.join(map(str, args.counts))} "
        f"--indexed-count {args.indexed_count} --steps {args.steps}`.",
        "",
        f"{args.size} px: z {z_shape} and f {f_shape} float32 per row (random numbers); "
        f"stage 1: the statistics and one epoch of the head; stage 2: {args.steps} steps "
        "of 64 through block3 and the head. RssAnon: memory the process owns (before the "
        "work, and its peak); RssFile: peak of the mapped files' pages, which the kernel "
        "can drop and read again.",
        "",
        "| mode | rows | files (MiB) | RssAnon before (MiB) | RssAnon peak (MiB) "
        "| RssAnon peak in stage 1 (MiB) | RssFile peak (MiB) | seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    print(lines[0])
    runs = [("batches", count) for count in args.counts]
    if args.indexed_count:
        runs.append(("indexed", args.indexed_count))
    for mode, count in runs:
        with tempfile.TemporaryDirectory(dir=ROOT / "_build") as folder:
            z, f = Path(folder) / "z.npy", Path(folder) / "f.npy"
            write_random(z, (count, *z_shape))
            write_random(f, (count, *f_shape))
            files = (z.stat().st_size + f.stat().st_size) / 2**20
            r = run(mode, args.size, args.steps, z, f)
        before, stage1, peak = (r[when] for when in ("before", "stage1", "peak"))
        lines.append(
            f"| {mode} | {count:,} | {files:,.0f} | {before['RssAnon'] / 1024:,.0f} "
            f"| {peak['RssAnon'] / 1024:,.0f} | {stage1['RssAnon'] / 1024:,.0f} "
            f"| {peak['RssFile'] / 1024:,.0f} | {r['seconds']:.1f} |"
        )
        print(lines[-1], flush=True)
    atomic_write_bytes(args.out, ("\n".join(lines) + "\n").encode())
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
