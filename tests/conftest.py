"""Fixtures shared by several test files, and the test run's set-up.

Figures are drawn with Matplotlib's Agg backend in the test process (set here,
not through MPLBACKEND, which the kernels nbval starts would inherit).
"""

import importlib.util
import subprocess
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def _load_script(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def random_vgg():
    """VGG16's base at 32 px with random weights (seed 0), built once per test run.

    Shared: a test must not train it, change which layers train, or compile it.
    """
    import keras

    from utils import weights

    keras.utils.set_random_seed(0)
    return weights.load_vgg16(None, input_shape=(32, 32, 3), verbose=False)


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An empty cache folder of the test's own (TLBOOK_CACHE_DIR)."""
    monkeypatch.setenv("TLBOOK_CACHE_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def pil_allocations(monkeypatch):
    """The (width, height) of every image Pillow creates or resizes to, in order."""
    sizes = []
    real_new, real_resize = Image.new, Image.Image.resize

    def new(mode, size, *args, **kwargs):
        sizes.append(size)
        return real_new(mode, size, *args, **kwargs)

    def resize(image, size, *args, **kwargs):
        sizes.append(size)
        return real_resize(image, size, *args, **kwargs)

    monkeypatch.setattr(Image, "new", new)
    monkeypatch.setattr(Image.Image, "resize", resize)
    return sizes


@pytest.fixture(scope="module")
def grey_model():
    """A deterministic 10-class softmax model on 28x28x1 pixel values (one per test file)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    return model


@pytest.fixture(scope="module")
def saved_grey_model(grey_model, tmp_path_factory):
    """``grey_model`` saved as a ``.keras`` file."""
    path = tmp_path_factory.mktemp("models") / "grey.keras"
    grey_model.save(path)
    return path


@pytest.fixture(scope="session")
def built_site() -> Path:
    """The website, built by `make site` (warnings are errors) into _build/html; the
    chapters' executions are cached (nbval's, or the site build's own), so this is quick
    after the first build. Used by the site and browser tests."""
    html = ROOT / "_build" / "html"
    result = subprocess.run(
        ["make", "--no-print-directory", "site"], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        reports = sorted((html / "reports").glob("**/*.err.log"))
        details = "\n".join(path.read_text()[-3000:] for path in reports)
        pytest.fail(
            f"`make site` failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}\n{details}"
        )
    assert (html / "index.html").exists(), "`make site` wrote no index.html"
    return html


@pytest.fixture(scope="session")
def load_script():
    """``load(path, name)``: the script at ``path`` (not in a package) as a module ``name``."""
    return _load_script


@pytest.fixture
def offline_web_assets(tmp_path):
    """``load(packages, fetched_by)``: book/fetch_web_assets.py as a module that unpacks
    under tmp_path from the cached tarballs and never calls npm. ``packages`` names its
    list (PACKAGES, TEST_PACKAGES); a tarball of it not cached skips the test."""

    def load(packages: str, fetched_by: str):
        module = _load_script(ROOT / "book" / "fetch_web_assets.py", "web_assets_for_tests")
        for package in getattr(module, packages):
            tarball = module._tarball_name(package)
            if not module._verified(module.CACHE / tarball, package):
                pytest.skip(f"{tarball} is not cached ({fetched_by} fetches it)")

        def no_npm(package):
            raise AssertionError("npm must not be called: the tarballs are cached")

        module._npm_pack = no_npm
        module.ROOT = tmp_path
        module.STATIC = tmp_path / "_build" / "web-assets"
        module.TARGET = module.STATIC / "offline"
        module.MANIFEST = module.TARGET / "manifest.json"
        module.TEST_TARGET = tmp_path / "_build" / "test-assets"
        return module

    return load


def pytest_configure(config):
    """Whenever nbval runs the chapters, keep its execution for the site build of the same
    run (tests/nbval_site_cache.py; `-p no:nbval-site-cache` turns it off). Agg for figures."""
    import matplotlib
    import nbval_site_cache  # beside this file: pytest puts tests/ on sys.path

    matplotlib.use("Agg")

    nbval_site_cache.register(config)
