"""Fixtures shared by several test files."""

import pytest
from PIL import Image


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


def pytest_configure(config):
    """Whenever nbval runs the chapters, keep its execution for the site build of the same
    run (tests/nbval_site_cache.py; `-p no:nbval-site-cache` turns it off)."""
    import nbval_site_cache  # beside this file: pytest puts tests/ on sys.path

    nbval_site_cache.register(config)
