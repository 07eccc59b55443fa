"""Where downloaded and generated assets live, and how they are verified.

Every asset (bundled data, pretrained weights) is checked against a sha256
before use. A missing or damaged asset raises :class:`AssetError`, whose
message names the command that fixes it. Introduced in chapter 00.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
FIX_COMMAND = "make data"
CACHE_DIR_VARIABLE = "TLBOOK_CACHE_DIR"


class AssetError(RuntimeError):
    """A data or weights file is missing, incomplete or not the expected one."""

    def __init__(self, problem: str, fix: str = FIX_COMMAND):
        super().__init__(f"{problem}\nTo fix it, run `{fix}` in the book's folder.")
        self.problem = problem
        self.fix = fix


def cache_dir() -> Path:
    """Folder for downloads, converted weights, features and models (ignored by git).

    ``data/cache`` by default. Set ``TLBOOK_CACHE_DIR`` to share one cache
    between several clones, for example on a workshop machine. A leading ``~``
    in its value is expanded, and a relative value is taken relative to the
    repository root (the folder with the Makefile), not to the current folder,
    so ``make data`` and the chapters in ``notebooks/`` use the same cache. The
    folder is created if needed. An empty value, or a path that is an existing
    file, raises ``ValueError``; a folder that cannot be created raises
    ``OSError``; both messages name ``TLBOOK_CACHE_DIR``.
    """
    value = os.environ.get(CACHE_DIR_VARIABLE)
    path = DATA_DIR / "cache" if value is None else _cache_dir_from(value)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        source = "the default" if value is None else f"from {CACHE_DIR_VARIABLE}={value!r}"
        raise OSError(
            error.errno,
            f"Cannot create the cache folder {path} ({source}): {error.strerror or error}. "
            f"Set {CACHE_DIR_VARIABLE} to a folder you can write to.",
        ) from error
    return path


def _cache_dir_from(value: str) -> Path:
    """The cache folder that ``TLBOOK_CACHE_DIR=value`` names, or a ValueError that says why not."""
    name = CACHE_DIR_VARIABLE
    if not value.strip():
        raise ValueError(
            f"{name} is set but empty. Set it to a folder, or unset it to use {DATA_DIR / 'cache'}."
        )
    try:
        path = REPO_ROOT / Path(value).expanduser()  # an absolute path stays as it is
    except RuntimeError as error:  # "~" with no home directory
        raise ValueError(f"{name}={value!r}: cannot expand '~' ({error}).") from None
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}={value!r} is {path}, which is a file, not a folder.")
    return path


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large files use little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str, fix: str = FIX_COMMAND) -> Path:
    """Return ``path`` if it exists and has the expected sha256, else raise AssetError."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"Missing file: {path}", fix)
    actual = sha256_file(path)
    if actual != expected:
        raise AssetError(
            f"{path} is damaged or not the expected file "
            f"(sha256 {actual[:12]}..., expected {expected[:12]}...).",
            fix,
        )
    return path


STALE_PART_AGE = 3600  # seconds a temporary file must be untouched, its writer gone
ABANDONED_PART_AGE = 24 * 3600  # seconds a temporary file must be untouched, whoever wrote it
# Temporary files of atomic_replace: "<name>.<writer's pid>.<8 hex digits>.part[.ext]", and
# "tmp<8 characters>.part[.ext]" from before the pid was recorded (tempfile's names).
_PART_NAME = re.compile(r"^(?:.+\.(?P<pid>\d+)\.[0-9a-f]{8}|tmp[a-z0-9_]{8})\.part(?:\.\w+)?$")


@contextlib.contextmanager
def atomic_replace(path: str | os.PathLike, suffix: str = ".part") -> Iterator[Path]:
    """Yield a new temporary file next to ``path``; when the block ends, it replaces ``path``.

    Write the new content to the yielded path. If the ``with`` block raises
    (an error, Ctrl-C), the temporary file is deleted and ``path`` is left as
    it was. Otherwise the temporary file gets a new file's usual permissions
    (0o666 less the umask) and replaces ``path`` in one step (``os.replace``),
    so ``path`` always holds the old content or the new, never a partial file.
    A killed process (``kill -9``) can leave the temporary file behind
    (``<name>.<pid>.<random>.part``, with ``suffix`` at the end), but never
    touches ``path``; such orphans are removed by the next write to the same
    folder (:func:`remove_stale_parts`). Nothing is fsynced, so this does not
    protect against a power cut. The folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path.parent)
    while True:
        tmp_path = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")
        try:
            os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            break
        except FileExistsError:  # the same 32 random bits twice: try others
            continue
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        tmp_path.chmod(0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def remove_stale_parts(folder: str | os.PathLike, now: float | None = None) -> list[Path]:
    """Delete the temporary files that killed :func:`atomic_replace` writes left in ``folder``.

    Only files named as ``atomic_replace`` names them are considered, and only
    those that nobody can still be writing: untouched for ``STALE_PART_AGE``
    (an hour) and whose writing process, recorded in the name, no longer runs
    on this machine; or untouched for ``ABANDONED_PART_AGE`` (a day), whoever
    wrote them (a process id can be reused, and a shared cache can be written
    from other machines). A write in progress changes its file's time as it
    writes, so it is never removed. Errors (a file another process removed
    first, a read-only folder) are ignored. Returns the files removed.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _PART_NAME.match(entry.name)
        if not match:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
            pid = match["pid"]
            writer_gone = pid is None or not _process_runs(int(pid))
            if age > ABANDONED_PART_AGE or (age > STALE_PART_AGE and writer_gone):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _process_runs(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (True when that cannot be told)."""
    if os.name != "posix" or pid <= 0:
        return True  # on Windows, os.kill(pid, 0) would end the process
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` through a temporary file and a rename.

    A crash or error mid-write never leaves a partial file at ``path`` and
    never destroys the file that was there before (see :func:`atomic_replace`).
    """
    with atomic_replace(path) as tmp_path:
        tmp_path.write_bytes(payload)
    return Path(path)
