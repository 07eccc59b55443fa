"""Benchmark: how long Keras calls wait for tf.data's autotuning thread.

    .venv/bin/python benchmarks/iterator_stall.py [--calls 20]

Times the same ``predict`` (VGG16 with random weights, 1,024 images of 32 px,
batches of 128) again and again, first with tf.data's autotuning on
(TensorFlow's default), then off (as ``utils.training`` sets it for the
book). With autotuning on, every iterator starts a thread that sleeps 10, 20,
40, ... ms between rounds; deleting the iterator sometimes waits for the next
round, so a call can end at 10 x (2**k - 1) ms after it started (2.55 s,
5.11 s, ...) with both cores idle: calls that end at one of those times
show it. The count of calls over 1.5 times the fastest is only a summary (a
shared machine's own speed can drift that much). This is a benchmark, not a
test: it prints and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import tensorflow as tf

from utils import training, weights


def call_seconds(model, images, calls: int) -> list[float]:
    """Seconds of each of ``calls`` predictions of ``images``."""
    model.predict(images, batch_size=128, verbose=0)  # build and trace first
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        model.predict(images, batch_size=128, verbose=0)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="predictions per setting")
    calls = parser.parse_args().calls

    model = weights.load_vgg16(None, input_shape=(32, 32, 3))
    images = np.random.default_rng(0).normal(0, 50, (1024, 32, 32, 3)).astype("float32")
    book_iterate = tf.data.Dataset.__iter__
    for name, iterate in (
        ("autotuning on (TensorFlow's default)", training._ITERATE),
        ("autotuning off (the book)", book_iterate),
    ):
        tf.data.Dataset.__iter__ = iterate
        seconds = call_seconds(model, images, calls)
        fastest = min(seconds)
        slow = sum(s > 1.5 * fastest for s in seconds)
        print(
            f"{name}: fastest {fastest:.2f} s, median {statistics.median(seconds):.2f} s, "
            f"slowest {max(seconds):.2f} s; {slow} of {calls} calls over 1.5 x the fastest"
        )
        print("  " + " ".join(f"{s:.2f}" for s in seconds))
    tf.data.Dataset.__iter__ = book_iterate


if __name__ == "__main__":
    main()
