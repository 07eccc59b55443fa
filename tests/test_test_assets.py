"""axe-core, a test-only asset: pinned and verified like the web assets, never on the site.

book/fetch_web_assets.py --test-assets unpacks it from the cached, verified
tarball into _build/test-assets/ (here into tmp_path), which is not in Sphinx's
html_static_path. Nothing here uses the network or npm.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "book" / "fetch_web_assets.py"


@pytest.fixture()
def assets(offline_web_assets):
    """The script with every target under tmp_path; the tarballs from the cache, without npm."""
    return offline_web_assets("TEST_PACKAGES", "make test")


def test_axe_is_pinned_to_a_version_and_its_sha512(load_script):
    module = load_script(SCRIPT, "web_assets_for_tests")
    (axe,) = [p for p in module.TEST_PACKAGES if p["name"] == "axe-core"]
    assert axe["version"].startswith("4.") and axe["version"].count(".") == 2
    assert axe["integrity"].startswith("sha512-") and len(axe["integrity"]) == 95
    assert "axe-core/axe.min.js" in module.TEST_ENTRY_POINTS
    assert all(p["name"] != "axe-core" for p in module.PACKAGES), "axe-core must not be shipped"


def test_the_test_assets_are_not_served_on_the_site(load_script):
    module = load_script(SCRIPT, "web_assets_for_tests")
    static = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    for folder in static["html_static_path"]:
        served = (ROOT / folder).resolve()
        assert not module.TEST_TARGET.resolve().is_relative_to(served), folder
        assert not served.is_relative_to(module.TEST_TARGET.resolve()), folder
    html = ROOT / "_build" / "html"
    if html.is_dir():
        assert not [path for path in html.rglob("axe*.js")], "axe-core was copied into the site"


def test_test_assets_unpack_apart_from_the_web_assets(assets, capsys):
    assert not assets.in_place(test_assets=True)
    assert assets.main(["--test-assets", "--check"]) == 1
    assert "--test-assets" in capsys.readouterr().out

    assert assets.main(["--test-assets"]) == 0
    axe = assets.TEST_TARGET / "axe-core" / "axe.min.js"
    assert axe.stat().st_size > 100_000 and b"axe" in axe.read_bytes()[:2000]
    assert assets.in_place(test_assets=True)
    assert not assets.TARGET.exists(), "the site's folder was touched"
    assert not assets.in_place(), "the web assets are a separate bundle"
    capsys.readouterr()
    assert assets.main(["--test-assets"]) == 0
    assert "test assets: in place" in capsys.readouterr().out

    axe.write_bytes(axe.read_bytes()[:100])  # truncated
    assert assets.problems(test_assets=True) == [
        "axe-core/axe.min.js changed since it was unpacked"
    ]
    assert assets.main(["--test-assets"]) == 0 and assets.in_place(test_assets=True)
    assert axe.stat().st_size > 100_000


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_fetches_the_test_assets_and_make_site_does_not(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path)
    (tmp_path / "pyproject.toml").write_text("")

    def make(target):
        result = subprocess.run(
            ["make", "--no-print-directory", "-n", target], cwd=tmp_path,
            capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "fetch_web_assets.py --test-assets" in make("test")
    assert "--test-assets" not in make("site")
