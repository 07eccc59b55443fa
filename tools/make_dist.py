"""Build the offline bundle for a classroom without network (run by ``make dist``).

    python -m tools.make_dist        # after `make data` and `make book`

Writes ``_build/dist/transfer-learning-hands-on-<version>.tar.gz``: one folder
holding the built website (``site/``), every file of the repository that git
tracks (the chapters without outputs, the ``utils`` package, the Makefile, the
prose), the verified data and ImageNet weights in the places the book looks
for them (``data/``), ``OFFLINE.md`` (how to read and run it offline) and
``SHA256SUMS`` (every file's checksum). Python packages are not included: see
OFFLINE.md and the instructor guide.

Nothing is built or downloaded here: a missing website, a missing asset or one
whose checksum does not match stops with a message that names it and the
command that fixes it. The archive is written to a temporary file and renamed
at the end, so a failed run leaves the previous archive as it was. Entries are
sorted and carry a fixed time, owner and mode, so the same files give the same
bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from utils import data, weights
from utils.assets import atomic_replace, cache_dir, sha256_file

ROOT = Path(__file__).resolve().parent.parent
SITE_DIR = ROOT / "_build" / "html"
OUT_DIR = ROOT / "_build" / "dist"
# Time stamp of every entry when neither SOURCE_DATE_EPOCH nor a git commit gives one
# (2026-01-01 00:00 UTC): fixed, so that the same files give the same archive.
DEFAULT_MTIME = 1767225600
GZIP_LEVEL = 6


class DistError(Exception):
    """The bundle cannot be built; the message says why and what to run."""


@dataclass(frozen=True)
class Asset:
    """A data or weights file the chapters need, and the sha256 it must have."""

    path: Path  # where it is on this machine
    arcname: str  # where it goes in the bundle, relative to its top folder
    sha256: str | None  # None: no pinned checksum (the provenance record itself)
    what: str  # what it is, for messages and OFFLINE.md
    fix: str = "make data"  # the command that repairs it


@dataclass(frozen=True)
class Result:
    path: Path
    size: int
    files: int


# --------------------------------------------------------------------------- inputs


def project_version(root: Path) -> tuple[str, str]:
    """The project's name and version from ``pyproject.toml``."""
    with open(root / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)["project"]
    return project["name"], project["version"]


def source_files(root: Path) -> list[str]:
    """The files git tracks in ``root`` (working-tree content), sorted; deleted ones left out.

    Only tracked files, so that ``.venv/``, caches, models and builds never get in.
    """
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        raise DistError(
            f"Cannot list the book's files with git in {root} "
            f"({detail.decode(errors='replace').strip() or error}): "
            "`make dist` runs in a git clone of the book."
        ) from error
    names = sorted({name for name in listed.decode().split("\0") if name})
    return [name for name in names if (root / name).is_file()]


def check_site(site_dir: Path) -> None:
    """Raise DistError unless ``site_dir`` holds a built website."""
    if not (site_dir / "index.html").is_file():
        raise DistError(
            f"No built website: {site_dir / 'index.html'} is missing. "
            "Run `make book` first (it executes every chapter, about 20 minutes), "
            "then `make dist`."
        )


def site_files(site_dir: Path) -> list[tuple[str, Path]]:
    """``(name inside site/, path)`` of every file of the built website, sorted."""
    found = []
    for folder, subfolders, names in os.walk(site_dir):
        subfolders.sort()
        for name in names:
            path = Path(folder) / name
            if path.is_file():  # a link to a file is bundled as the file
                found.append((path.relative_to(site_dir).as_posix(), path))
    return sorted(found)


def book_assets(root: Path, cache: Path) -> list[Asset]:
    """The verified assets the chapters need, with the checksums the book pins.

    The bundled Fashion-MNIST subset (sha256 in ``utils.data``), the converted
    ImageNet VGG16 weights with their provenance record (sha256 in that record,
    which ``make data`` wrote after checking every tensor), and, when it is
    there, the offline mirror they were converted from (sha256 in
    ``utils.weights``), so that ``make data`` can convert them again offline
    and chapter 08 can read the model inside it.
    """
    assets = [
        Asset(
            root / "data" / "fashion-mnist-subset" / name,
            f"data/fashion-mnist-subset/{name}",
            data.BUNDLED_SHA256[name],
            "the bundled Fashion-MNIST subset",
            data.BUNDLED_FIX,
        )
        for name in data.FILE_NAMES
    ]
    converted = cache / "weights" / weights.CONVERTED_FILE
    provenance_path = converted.with_name(weights.PROVENANCE_FILE)
    if not converted.is_file() or not provenance_path.is_file():
        missing = provenance_path if converted.is_file() else converted
        hint = (
            "Run `make data`, then `make dist`."
            if not weights.keras_weights_path().is_file()
            else f"This machine uses Keras's own file {weights.keras_weights_path()}, which "
            "the book does not bundle; convert the offline mirror with `.venv/bin/python -c "
            '"from tools import prepare_data as p; p.prepare_imagenet_weights(force=True)"`, '
            "then run `make dist`."
        )
        raise DistError(f"Missing asset: {missing} (the ImageNet VGG16 weights). {hint}")
    try:
        provenance = json.loads(provenance_path.read_text())
        weights_sha256 = provenance["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DistError(
            f"Damaged asset: {provenance_path} does not record the weights' sha256 ({error}). "
            f"Delete it and {converted.name}, then run `make data` and `make dist`."
        ) from error
    assets += [
        Asset(
            converted,
            f"data/cache/weights/{converted.name}",
            weights_sha256,
            "the ImageNet VGG16 weights (converted; `make data` checked every tensor)",
        ),
        Asset(
            provenance_path,
            f"data/cache/weights/{provenance_path.name}",
            None,
            "where the weights come from, and their sha256",
        ),
    ]
    mirror = cache / "downloads" / weights.MIRROR_WHEEL
    if mirror.is_file():
        assets.append(
            Asset(
                mirror,
                f"data/cache/downloads/{mirror.name}",
                weights.MIRROR_WHEEL_SHA256,
                f"the offline mirror of the weights ({weights.MIRROR_PACKAGE})",
            )
        )
    return assets


def verify_assets(assets: list[Asset]) -> dict[str, str]:
    """The sha256 of each asset by its name in the bundle; DistError for a missing or bad one."""
    digests = {}
    for asset in assets:
        if not asset.path.is_file():
            raise DistError(
                f"Missing asset: {asset.path} ({asset.what}). Run `{asset.fix}`, then `make dist`."
            )
        actual = sha256_file(asset.path)
        if asset.sha256 is not None and actual != asset.sha256:
            raise DistError(
                f"Refusing to bundle {asset.path} ({asset.what}): its sha256 is "
                f"{actual[:12]}..., expected {asset.sha256[:12]}...; it is damaged or not "
                f"the verified file. Delete it and run `{asset.fix}`, then `make dist`."
            )
        digests[asset.arcname] = actual
    return digests


def source_date(root: Path) -> int:
    """Time stamp of the entries: SOURCE_DATE_EPOCH, else the last commit's time, else fixed."""
    if value := os.environ.get("SOURCE_DATE_EPOCH"):
        return int(value)
    result = subprocess.run(
        ["git", "log", "-1", "--format=%ct"], cwd=root, capture_output=True, text=True
    )
    return int(result.stdout) if result.returncode == 0 and result.stdout.strip() else DEFAULT_MTIME


def git_description(root: Path) -> str | None:
    """The commit the bundle was made from (with a note if files differ from it), or None.

    Read-only git commands, so a commit running at the same time is not disturbed.
    """
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True
    )
    if head.returncode != 0 or not head.stdout.strip():
        return None
    changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=root).returncode != 0
    return head.stdout.strip() + (" with uncommitted changes" if changed else "")


# --------------------------------------------------------------------------- the archive


def offline_readme(name: str, version: str, assets: list[Asset], digests: dict, commit) -> str:
    """The text of OFFLINE.md: what the bundle holds and how to use it without network."""
    made_from = f", made from commit {commit}" if commit else ""
    rows = "\n".join(
        f"| `{a.arcname}` | {a.what} | `{digests[a.arcname]}` |" for a in assets if a.sha256
    )
    return f"""# Transfer Learning, Hands-On {version}: the offline bundle

This folder is the book for a room without network ({name} {version}{made_from}):

| where | what |
| --- | --- |
| `site/` | the website, every chapter executed, with its JavaScript (no other host needed) |
| `notebooks/` | the chapters, without outputs |
| `utils/`, `Makefile`, `book/`, ... | the book's package and the rest of its repository |
| `data/` | the bundled data and the verified ImageNet VGG16 weights |
| `SHA256SUMS` | the sha256 of every other file in this folder |

The assets, each checked against the sha256 the book pins for it (for the weights,
the one `make data` recorded after checking every tensor) when this bundle was made:

| file | what | sha256 |
| --- | --- | --- |
{rows}

## 1. Check the copy

```bash
sha256sum -c --quiet SHA256SUMS          # macOS: shasum -a 256 -c --quiet SHA256SUMS
```

No output means that every file arrived intact.

## 2. Read the website

```bash
python3 -m http.server -d site --bind 127.0.0.1 8000
```

and open <http://127.0.0.1:8000>. Leave out `--bind 127.0.0.1` to let the
room reach it at `http://<this machine>:8000`. Opening `site/index.html`
straight from the folder (a `file://` address) shows the text, the figures
and the saved outputs, but browsers restrict what such a page may load
(scripts, fonts and data from other folders, differently in each browser):
the widgets, drawn in the page by require.js and the widget manager, and the
search may then not appear. The local server avoids that.

## 3. Run the chapters

**Python packages are not in this bundle.** The pinned packages are about
0.5 GB of wheels, most of it TensorFlow, and a wheel is made for one
operating system, processor type and Python version: a bundle cannot carry
the right ones for every machine in the room. Collect them once, on a
machine with network and the same operating system, processor type and
Python version (3.11 to 3.13) as the room's machines, in this folder
(the instructor guide, `book/instructor-guide.md`, *Before the workshop*,
step 2):

```bash
python3 -m venv .venv
.venv/bin/pip download -d wheels -c constraints.txt ".[tensorflow,book,test]" pip setuptools
```

Keep `wheels/` in this folder. Then, on each machine, in this folder:

```bash
PIP_NO_INDEX=1 PIP_FIND_LINKS=$PWD/wheels make data    # creates .venv/, needs no network
make lab                                               # the chapters in JupyterLab
```

`make data` checks the bundled data and finds the weights in
`data/cache/weights/`. Without `make`:

```bash
python3 -m venv .venv
.venv/bin/pip install --no-index --find-links wheels -c constraints.txt -e ".[tensorflow,book]"
.venv/bin/python -m tools.prepare_data
.venv/bin/jupyter lab notebooks/
```

Install with `-e` (editable), as above: the package then finds the data and
the weights beside it in this folder; a plain `pip install .` copies `utils/`
elsewhere, away from them.
"""


def _tarinfo(name: str, mtime: int, mode: int, size: int = 0, folder: bool = False):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if folder else tarfile.REGTYPE
    info.size = 0 if folder else size
    info.mode = mode
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class _HashingReader:
    """A file read by tarfile, hashed on the way, so the bundle holds what was checked."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size=-1):
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        return chunk


def write_archive(
    out: Path, top: str, entries: dict, mtime: int, digests: dict | None = None
) -> int:
    """Write ``entries`` (name -> path, or bytes) under folder ``top`` into ``out`` (.tar.gz).

    Every file's sha256 is taken from ``digests`` (files verified before) or
    computed, and written to ``SHA256SUMS``; a file whose bytes differ from it
    when it is copied into the archive stops the build. The write goes to a
    temporary file next to ``out`` that replaces it only at the end, so an
    error leaves ``out`` as it was. Returns the number of files.
    """
    digests = dict(digests or {})
    for name, source in entries.items():
        if isinstance(source, bytes):
            digests[name] = hashlib.sha256(source).hexdigest()
        elif name not in digests:
            digests[name] = sha256_file(source)
    sums = "".join(f"{digests[name]}  {name}\n" for name in sorted(entries))
    entries = {**entries, "SHA256SUMS": sums.encode()}
    folders = {top}
    for name in entries:
        parts = name.split("/")[:-1]
        folders.update(f"{top}/{'/'.join(parts[: i + 1])}" for i in range(len(parts)))
    members = sorted([(folder, None) for folder in folders] + [(f"{top}/{n}", n) for n in entries])

    with (
        atomic_replace(out) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=mtime
        ) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for member, name in members:
            if name is None:
                tar.addfile(_tarinfo(member, mtime, 0o755, folder=True))
            elif isinstance(source := entries[name], bytes):
                tar.addfile(_tarinfo(member, mtime, 0o644, len(source)), io.BytesIO(source))
            else:
                _add_file(tar, member, source, mtime, digests[name])
    return len(entries)


def _add_file(tar: tarfile.TarFile, member: str, path: Path, mtime: int, digest: str) -> None:
    status = path.stat()
    mode = 0o755 if status.st_mode & stat.S_IXUSR else 0o644
    with open(path, "rb") as handle:
        reader = _HashingReader(handle)
        try:
            tar.addfile(_tarinfo(member, mtime, mode, status.st_size), reader)
        except OSError as error:  # shorter than its size: it changed under us
            raise DistError(f"{path} changed while it was being bundled ({error}).") from error
        if reader.digest.hexdigest() != digest or handle.read(1):
            raise DistError(f"{path} changed while it was being bundled; run `make dist` again.")


def make_dist(
    root: Path,
    site_dir: Path,
    out_dir: Path,
    cache: Path | None = None,
    assets: list[Asset] | None = None,
    mtime: int | None = None,
) -> Result:
    """Build the bundle of the book in ``root`` into ``out_dir``; see the module's docstring.

    ``cache`` is the book's cache folder (``utils.assets.cache_dir()`` by
    default); ``assets`` replaces :func:`book_assets` and ``mtime`` replaces
    :func:`source_date` (for tests).
    """
    root, site_dir, out_dir = Path(root), Path(site_dir), Path(out_dir)
    check_site(site_dir)
    if assets is None:
        assets = book_assets(root, cache_dir() if cache is None else Path(cache))
    digests = verify_assets(assets)
    name, version = project_version(root)
    top = f"{name}-{version}"

    entries: dict[str, Path | bytes] = {name: root / name for name in source_files(root)}
    entries.update((f"site/{name}", path) for name, path in site_files(site_dir))
    entries.update((asset.arcname, asset.path) for asset in assets)
    readme = offline_readme(name, version, assets, digests, git_description(root))
    entries["OFFLINE.md"] = readme.encode()
    entries = dict(sorted(entries.items()))

    out = out_dir / f"{top}.tar.gz"
    # The assets go in with the checksums just verified: one that changed since stops it.
    mtime = source_date(root) if mtime is None else mtime
    count = write_archive(out, top, entries, mtime, digests)
    return Result(out, out.stat().st_size, count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=SITE_DIR, help="the built website")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the archive")
    args = parser.parse_args(argv)
    try:
        result = make_dist(ROOT, args.site, args.out)
    except DistError as error:
        print(f"make dist: {error}", file=sys.stderr)
        return 1
    try:
        shown = result.path.relative_to(Path.cwd())
    except ValueError:
        shown = result.path
    print(f"Wrote {shown} ({result.size / 1e6:.1f} MB, {result.files} files).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
