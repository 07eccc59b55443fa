"""Peak memory of the running process, for the memory benchmarks (Linux only).

The benchmarks' child processes call :func:`start` first; it samples
``/proc/self/status`` in a background thread: ``RssAnon`` (memory the process
owns: arrays, TensorFlow) and ``RssFile`` (pages of files it has mapped, which
the kernel can drop and read again).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time


def start(every: float = 0.05) -> dict[str, int]:
    """Sample every ``every`` seconds; return the dict of peaks (KiB) that the thread updates."""
    peak = {"RssAnon": 0, "RssFile": 0}

    def sample() -> None:
        while True:
            with open("/proc/self/status") as status:
                for line in status:
                    key = line.split(":")[0]
                    if key in peak:
                        peak[key] = max(peak[key], int(line.split()[1]))
            time.sleep(every)

    threading.Thread(target=sample, daemon=True).start()
    return peak


def run_child(code: str, label: str, **env: str) -> dict:
    """Run ``code`` in a new Python process; return the JSON of its last printed line.

    ``env`` is added to this process's environment (TensorFlow's C++ log
    silenced); a failed child stops the benchmark with its error output.
    """
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env)
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"{label} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
