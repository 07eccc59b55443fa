"""Fetch the JavaScript the website needs, so that its pages work with no network.

Jupyter Book pages normally load three things from public CDNs: require.js and
the Jupyter widget manager (to draw widgets from their saved state) and MathJax
(to typeset formulas). This script takes pinned versions of them from the npm
registry instead, checks each tarball against its published sha512 integrity,
and unpacks the files the pages use into ``_build/web-assets/offline/``, which
``_config.yml`` adds to Sphinx's ``html_static_path``. The pages then load them
from ``_static/offline/`` on the site itself.

``make site`` and ``make book`` run it first. It is idempotent: the tarballs
are cached in ``data/cache/npm/`` (outside git) and a second run that finds
everything in place returns at once. "In place" means that every unpacked file
still has the sha256 recorded in ``manifest.json`` when it was unpacked; a
truncated, edited or missing file is unpacked again from the verified tarball.
Run it by hand with

    python book/fetch_web_assets.py            # fetch (if needed) and unpack
    python book/fetch_web_assets.py --check    # only say whether all is in place

The browser test needs one more package that the site must not ship: axe-core,
which checks the pages' accessibility. ``--test-assets`` treats it the same way
(pinned, verified, cached in ``data/cache/npm/``) but unpacks it into
``_build/test-assets/``, which is not in ``html_static_path``; ``make test``
runs it:

    python book/fetch_web_assets.py --test-assets [--check]

Downloading needs ``npm`` (Node.js) and the npm registry once; afterwards the
cache is enough. To prepare a machine that will build the book offline, run
``make site`` (or this script) once while online.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "data" / "cache" / "npm"
STATIC = ROOT / "_build" / "web-assets"  # listed in _config.yml: sphinx.config.html_static_path
TARGET = STATIC / "offline"  # served as _static/offline/ on the site

# Every package pinned to one version and the sha512 the npm registry publishes
# for its tarball (`npm view <name>@<version> dist.integrity`). `files` are
# glob patterns inside the tarball's `package/` folder; `into` is the folder
# under _static/offline/ that receives them (paths below `strip` are kept).
PACKAGES = [
    {
        # AMD loader that the widget manager's embed script needs.
        "name": "requirejs",
        "version": "2.3.8",
        "integrity": "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+"
        "Jd5otXKGNehIonFlyQXSowL6Mw==",
        "into": "requirejs",
        "strip": "",
        "files": ["require.js", "package.json", "README.md"],
    },
    {
        # Renders ipywidgets 8 from the state saved in the page (html-manager 1.x),
        # with the Font Awesome fonts its styles use (book/_static/offline-widgets.js
        # makes the bundle look for them beside itself).
        "name": "@jupyter-widgets/html-manager",
        "version": "1.0.15",
        "integrity": "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//"
        "SABeNz1yp47bCrJ3CQA==",
        "into": "html-manager",
        "strip": "dist/",
        "files": ["dist/embed-amd.js", "dist/embed.js.LICENSE.txt", "dist/*.woff2", "dist/*.woff"],
    },
    {
        # Typesets the book's formulas: the combined TeX/MathML component with
        # CommonHTML output, plus what it loads on demand (TeX extensions, web
        # fonts, the accessibility and menu modules, the speech rule engine).
        "name": "mathjax",
        "version": "3.2.2",
        "integrity": "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/"
        "O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        "into": "mathjax",
        "strip": "es5/",
        "files": [
            "es5/tex-mml-chtml.js",
            "es5/a11y/*",
            "es5/input/*",
            "es5/output/*",
            "es5/sre/*",
            "es5/ui/*",
            "LICENSE",
        ],
    },
]
MANIFEST = TARGET / "manifest.json"  # what was unpacked: the packages and each file's sha256
ENTRY_POINTS = ["requirejs/require.js", "html-manager/embed-amd.js", "mathjax/tex-mml-chtml.js"]

# Test-only assets (--test-assets): the same pinning and checks, unpacked outside
# html_static_path, so that they never reach the website.
TEST_TARGET = ROOT / "_build" / "test-assets"
TEST_PACKAGES = [
    {
        # The accessibility rules engine that tests/test_browser.py runs in every page.
        "name": "axe-core",
        "version": "4.14.1",
        "integrity": "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/"
        "pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
        "into": "axe-core",
        "strip": "",
        "files": ["axe.min.js", "LICENSE", "package.json"],
        "again": "make test",  # what to run once the cause of a failed fetch is fixed
    },
]
TEST_ENTRY_POINTS = ["axe-core/axe.min.js"]


class FetchError(RuntimeError):
    """A web asset could not be fetched or failed its integrity check."""


def _tarball_name(package: dict) -> str:
    """The file name `npm pack` gives a package's tarball."""
    return f"{package['name'].lstrip('@').replace('/', '-')}-{package['version']}.tgz"


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def _verified(path: Path, package: dict) -> bool:
    return path.is_file() and _integrity(path) == package["integrity"]


def _again(package: dict) -> str:
    """The command that fetches ``package`` again: `make site`, or `make test` for test assets."""
    return package.get("again", "make site")


def _npm_pack(package: dict) -> None:
    """Download one pinned tarball into CACHE with npm (npm's own cache is used first)."""
    spec = f"{package['name']}@{package['version']}"
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError(
            f"{spec} is not in {CACHE} and `npm` (Node.js) is not installed to fetch it.\n"
            "Install Node.js (for example `apt-get install npm`) and run "
            f"`{_again(package)}` again."
        )
    result = subprocess.run(
        [
            npm,
            "pack",
            spec,
            "--pack-destination",
            str(CACHE),
            "--prefer-offline",
            "--loglevel=error",
            "--no-fund",
            "--no-audit",
            "--fetch-retries=1",
        ],
        capture_output=True,
        text=True,
        cwd=CACHE,
    )
    if result.returncode != 0:
        registry = os.environ.get("npm_config_registry", "the npm registry")
        raise FetchError(
            f"could not download {spec} from {registry}, and it is not cached in {CACHE}.\n"
            "The website and its tests use their own copy so that they work offline; fetching "
            "it needs the npm registry once. Connect to the internet (or set a registry mirror "
            f"with `npm config set registry <url>`) and run `{_again(package)}` again.\n"
            f"npm said: {(result.stderr or result.stdout).strip()[-1500:]}"
        )


def fetch(package: dict) -> Path:
    """The verified tarball of ``package``, downloaded into CACHE if it is not there yet."""
    path = CACHE / _tarball_name(package)
    if _verified(path, package):
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    _npm_pack(package)
    if not path.is_file():
        raise FetchError(f"npm pack did not produce {path}")
    if not _verified(path, package):
        found = _integrity(path)
        path.unlink()
        raise FetchError(
            f"{path.name} failed its integrity check: expected {package['integrity']}, "
            f"got {found}. The corrupt file was removed; run `{_again(package)}` again."
        )
    return path


def unpack(package: dict, tarball: Path, destination: Path) -> int:
    """Copy the selected files of ``tarball`` under ``destination``; the number of files."""
    count = 0
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith("package/"):
                continue
            name = member.name.removeprefix("package/")
            if not any(fnmatch(name, pattern) for pattern in package["files"]):
                continue
            relative = name.removeprefix(package["strip"])
            if relative.startswith("/") or ".." in Path(relative).parts:
                raise FetchError(f"unsafe path {member.name!r} in {tarball.name}")
            out = destination / package["into"] / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            with archive.extractfile(member) as source, open(out, "wb") as sink:
                shutil.copyfileobj(source, sink)
            count += 1
    if count == 0:
        raise FetchError(f"no files matched {package['files']} in {tarball.name}")
    return count


def _bundle(test_assets: bool = False) -> tuple[list[dict], Path, list[str]]:
    """The packages, the folder they unpack into and its entry points: the website's
    assets, or with ``test_assets`` those only the tests use."""
    if test_assets:
        return TEST_PACKAGES, TEST_TARGET, TEST_ENTRY_POINTS
    return PACKAGES, TARGET, ENTRY_POINTS


def _wanted(packages: list[dict]) -> dict:
    """What a target must hold; a change here (a new version, other files) unpacks again."""
    keys = ("version", "integrity", "into", "strip", "files")
    return {p["name"]: {key: p[key] for key in keys} for p in packages}


def _digests(folder: Path) -> dict[str, str]:
    """The sha256 of every file under ``folder`` but the manifest, by path relative to it."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path != folder / MANIFEST.name
    }


def problems(test_assets: bool = False) -> list[str]:
    """What is wrong with TARGET (TEST_TARGET with ``test_assets``); empty when it holds
    the pinned packages, every file intact.

    Each run re-reads every unpacked file and compares its sha256 with the
    manifest written at unpacking time (about 0.1 s), so a truncated, edited
    or deleted file is noticed and unpacked again from the verified tarball.
    """
    packages, target, entry_points = _bundle(test_assets)
    try:
        manifest = json.loads((target / MANIFEST.name).read_text())
    except (OSError, ValueError):
        return ["not unpacked yet (no manifest)"]
    if not isinstance(manifest, dict) or manifest.get("packages") != _wanted(packages):
        return ["unpacked from other versions or files than the pinned ones"]
    files = manifest.get("files")
    if not isinstance(files, dict) or not set(entry_points) <= set(files):
        return ["the manifest does not list the unpacked files (an older script wrote it)"]
    found = []
    for name, digest in files.items():
        path = target / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            found.append(f"the manifest lists an unsafe path {name!r}")
        elif not path.is_file():
            found.append(f"{name} is missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            found.append(f"{name} changed since it was unpacked")
    return found


def in_place(test_assets: bool = False) -> bool:
    """Whether TARGET (TEST_TARGET with ``test_assets``) holds exactly the pinned
    packages, each file as it was unpacked."""
    return not problems(test_assets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, fetch nothing")
    parser.add_argument(
        "--test-assets",
        action="store_true",
        help="the assets only the tests use (axe-core), in _build/test-assets: not on the site",
    )
    args = parser.parse_args(argv)
    packages, target, entry_points = _bundle(args.test_assets)
    label, whose = ("test assets", "tests'") if args.test_assets else ("web assets", "website's")
    found = problems(args.test_assets)
    if not found:
        print(f"{label}: in place ({target.relative_to(ROOT)})")
        return 0
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    print(f"{label}: {found[0]}{more}")
    if args.check:
        option = " --test-assets" if args.test_assets else ""
        print(f"{label}: missing or out of date; run `python book/fetch_web_assets.py{option}`")
        return 1
    try:
        tarballs = [(package, fetch(package)) for package in packages]
    except FetchError as error:
        print(f"error: fetching the {whose} offline assets failed:\n{error}", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=target.parent))
    try:
        for package, tarball in tarballs:
            count = unpack(package, tarball, staging)
            print(f"{label}: {package['name']}@{package['version']} ({count} files)")
        for name in entry_points:
            if not (staging / name).is_file():
                raise FetchError(f"{name} is missing after unpacking")
        manifest = {"packages": _wanted(packages), "files": _digests(staging)}
        (staging / MANIFEST.name).write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except FetchError as error:
        print(f"error: unpacking the {whose} offline assets failed:\n{error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"{label}: ready in {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
