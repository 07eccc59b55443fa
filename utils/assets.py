"""Where downloaded and generated assets live, and how they are verified.

Every asset (bundled data, pretrained weights) is checked against a sha256
before use. A missing or damaged asset raises :class:`AssetError`, whose
message names the command that fixes it. Introduced in chapter 00.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
FIX_COMMAND = "make data"


class AssetError(RuntimeError):
    """A data or weights file is missing, incomplete or not the expected one."""

    def __init__(self, problem: str, fix: str = FIX_COMMAND):
        super().__init__(f"{problem}\nTo fix it, run `{fix}` in the book's folder.")
        self.problem = problem
        self.fix = fix


def cache_dir() -> Path:
    """Folder for downloads and converted weights (ignored by git).

    ``data/cache`` by default; set ``TLBOOK_CACHE_DIR`` to share one cache
    between several clones, for example on a workshop machine.
    """
    path = Path(os.environ.get("TLBOOK_CACHE_DIR", DATA_DIR / "cache"))
    path.mkdir(parents=True, exist_ok=True)
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


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` through a temporary file and a rename.

    A crash or error mid-write never leaves a partial file at ``path`` and
    never destroys the file that was there before.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".part") as tmp:
        tmp_path = Path(tmp.name)
    try:
        tmp_path.write_bytes(payload)
        umask = os.umask(0)
        os.umask(umask)
        tmp_path.chmod(0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)
    return path
