"""Benchmark: peak memory of extracting features, in memory or memory-mapped.

    .venv/bin/python benchmarks/feature_memory.py [--size 64] [--count 8000]
        [--in-memory-only | --memory-mapped-only]

Each mode runs in a new process with an empty, private feature cache (the
prepared weights are linked into it): VGG16
(ImageNet) cut after block3 at ``--size`` px, on the first ``--count`` bundled
images (training images, then test images, repeated beyond the 8,000
bundled ones). The process samples its own
memory every 0.05 s from /proc/self/status: ``RssAnon`` (memory the process
owns: arrays, TensorFlow) and ``RssFile`` (pages of files it has mapped, which
the kernel can drop and read again). Modes: ``in memory`` (the default
``extract_features``), ``memory-mapped`` (``memory_map=True``, computed and
streamed to the cache) and ``memory-mapped, cached`` (a second process that
reads the same cache and gathers 1,000 rows). Linux only. A benchmark, not a
test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from memory_sampler import run_child  # beside this file

ROOT = Path(__file__).resolve().parent.parent


CHILD = r"""
import json, sys, time
sys.path[:0] = [{root!r}, {root!r} + "/benchmarks"]
from memory_sampler import start
peak = start()
import keras, numpy as np
from utils import data, features, weights
(x_train, _), (x_test, _) = data.load_fashion_mnist()
images = np.concatenate([x_train, x_test])
images = np.resize(images, ({count}, *images.shape[1:]))  # repeated past 8,000
vgg = weights.load_vgg16("imagenet", input_shape=({size}, {size}, 3))
kept = keras.Model(vgg.input, vgg.get_layer("block3_pool").output)
time.sleep(0.2)
before = dict(peak)
start = time.perf_counter()
options = {{"memory_map": True}} if {memory_map} else {{}}
result = features.extract_features(kept, images, {size}, **options)
rows = np.asarray(result[::max(1, len(images) // 1000)])
seconds = time.perf_counter() - start
time.sleep(0.2)
print(json.dumps({{"before": before, "peak": peak, "seconds": seconds,
                  "features_mib": result.nbytes / 2**20}}))
"""


def run(mode: str, size: int, count: int, cache: str) -> dict:
    code = CHILD.format(root=str(ROOT), size=size, count=count,
                        memory_map=mode.startswith("memory-mapped"))
    return run_child(code, mode, TLBOOK_CACHE_DIR=cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--count", type=int, default=8000)
    parser.add_argument("--in-memory-only", action="store_true",
                        help="only the first mode (for a book without memory_map)")
    parser.add_argument("--memory-mapped-only", action="store_true")
    args = parser.parse_args()
    print(f"VGG16 cut after block3, {args.size} px, {args.count:,} images")
    print(f"{'mode':<24}{'features':>10}{'RssAnon':>18}{'RssFile':>18}{'seconds':>9}")
    weights = Path(os.environ.get("TLBOOK_CACHE_DIR") or ROOT / "data" / "cache") / "weights"
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        for cache in (first, second):  # the prepared weights, an empty feature cache
            (Path(cache) / "weights").symlink_to(weights)
        modes = (("in memory", first), ("memory-mapped", second),
                 ("memory-mapped, cached", second))
        if args.in_memory_only:
            modes = modes[:1]
        if args.memory_mapped_only:
            modes = modes[1:]
        for mode, cache in modes:
            r = run(mode, args.size, args.count, cache)
            anon = (r["before"]["RssAnon"] / 1024, r["peak"]["RssAnon"] / 1024)
            file = (r["before"]["RssFile"] / 1024, r["peak"]["RssFile"] / 1024)
            print(f"{mode:<24}{r['features_mib']:>6.0f} MiB"
                  f"{anon[0]:>8.0f} -> {anon[1]:>4.0f} MiB"
                  f"{file[0]:>8.0f} -> {file[1]:>4.0f} MiB{r['seconds']:>8.1f}")


if __name__ == "__main__":
    main()
