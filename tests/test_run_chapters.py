"""benchmarks/run_chapters.py's memory sampler survives processes that exit while it looks.

No chapter runs here: the sampler is given stand-ins for psutil processes.
"""

from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "run_chapters.py"


@pytest.fixture(scope="module")
def run_chapters(load_script):
    return load_script(SCRIPT, "run_chapters_for_tests")


class Child:
    def __init__(self, cmdline, rss=0, gone=False):
        self._cmdline, self._rss, self._gone = cmdline, rss, gone

    def cmdline(self):
        if self._gone:
            raise psutil.NoSuchProcess(1234)
        return self._cmdline

    def memory_info(self):
        return SimpleNamespace(rss=self._rss)


class Root:
    def __init__(self, children=(), gone=False):
        self._children, self._gone = list(children), gone

    def children(self, recursive):
        if self._gone:  # psutil raises this when a child exits while it walks the tree
            raise psutil.NoSuchProcess(1234)
        return self._children


def test_only_kernels_count(run_chapters):
    root = Root([Child(["python", "-m", "ipykernel_launcher"], rss=100), Child(["sh"], rss=7)])
    assert run_chapters._kernel_rss(root) == 100


def test_a_process_that_exits_mid_walk_skips_one_sample(run_chapters):
    assert run_chapters._kernel_rss(Root(gone=True)) == 0
    kernels = [Child(["ipykernel"], rss=5), Child(["ipykernel"], gone=True)]
    assert run_chapters._kernel_rss(Root(kernels)) == 5
