"""`make hub`: a JupyterHub for a workshop in one room, on this machine.

NOT FOR THE OPEN INTERNET: one shared password, plain HTTP, no isolation
between participants (hub/jupyterhub_config.py says why). It listens on
127.0.0.1:8000 unless told otherwise:

    make hub                                   # 10 participants, this machine only
    make hub HUB_USERS=30 HUB_IP=0.0.0.0       # the room's network can reach it
    python hub/launch.py --help                # every option

Before starting JupyterHub it

1. installs the proxy, configurable-http-proxy, with ``npm ci`` from
   hub/package-lock.json, which pins every package and its sha512; npm checks
   each tarball against it. The tarballs are kept in data/cache/npm/_cacache,
   so a later install works offline;
2. builds the shared read-only cache in <state>/shared-cache/: the weights,
   downloads and VGG16 features of the book's cache (``make data``, and every
   chapter run once, fill it), hard-linked when they are on the same file
   system, copied otherwise, folders made read-only;
3. chooses the passwords (kept in <state>/credentials.json, or
   TLBOOK_HUB_PASSWORD for the participants') and the memory limit, derived
   from benchmarks/results.json, and prints them.

Stop it with Ctrl-C: JupyterHub stops every participant's server and the
proxy. Participants' folders stay in <state>/users/ for the next start.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HUB = ROOT / "hub"
BIN = Path(sys.executable).parent
PROXY = HUB / "node_modules" / ".bin" / "configurable-http-proxy"
PROXY_STAMP = HUB / "node_modules" / ".tlbook-lock.sha256"  # the lock file npm ci installed
SHARED_FOLDERS = ("weights", "features", "downloads")
MIB = 2**20
# The memory limit of each process of a participant's server (RLIMIT_DATA), from the
# peak RSS of the largest chapter's kernel (benchmarks/results.json). RLIMIT_DATA counts
# what a process reserved, touched or not, and TensorFlow reserves more than it touches:
# in chapter 06 the kernel's largest VmData was about 1.25 times its peak RSS, so the
# limit is 1.5 times the peak, plus 24 MiB per core for the stacks of TensorFlow's threads
# (about three per core, 8 MiB each), rounded up to 256 MiB.
LIMIT_FACTOR = 1.5
LIMIT_PER_CORE = 24 * MIB
LIMIT_STEP = 256 * MIB


def install_proxy() -> Path:
    """configurable-http-proxy, installed from the pinned lock file (once; offline after)."""
    lock = hashlib.sha256((HUB / "package-lock.json").read_bytes()).hexdigest()
    if PROXY.exists() and PROXY_STAMP.is_file() and PROXY_STAMP.read_text().strip() == lock:
        return PROXY
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "make hub: the proxy (configurable-http-proxy) is not installed and `npm` is "
            "missing. Install Node.js 20 or newer (for example `apt-get install npm`)."
        )
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    if int(node.strip().lstrip("v").split(".")[0] or 0) < 20:
        raise SystemExit(
            f"make hub: the proxy, configurable-http-proxy 5, needs Node.js 20 or newer; "
            f"this machine has {node.strip() or 'none'} (Debian 12's own nodejs is 18)."
        )
    cache = ROOT / "data" / "cache" / "npm" / "_cacache"
    command = [
        npm,
        "ci",
        "--cache",
        str(cache),
        "--prefer-offline",
        "--no-fund",
        "--no-audit",
        "--loglevel=error",
        "--fetch-retries=1",
    ]
    result = subprocess.run(command, cwd=HUB, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            "make hub: `npm ci` could not install the proxy from hub/package-lock.json "
            f"(its packages are not in {cache} and the npm registry is unreachable?).\n"
            f"npm said: {(result.stderr or result.stdout).strip()[-1500:]}"
        )
    PROXY_STAMP.write_text(lock + "\n")
    return PROXY


def shared_sources(cache: Path) -> dict[str, tuple[Path, str]]:
    """What participants share: folder name -> (the instructor's folder, file name pattern)."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    sources = {name: (cache / name, "*") for name in SHARED_FOLDERS}
    # Keras's official weights file, when `make data` found or downloaded it there
    sources["keras"] = (Path(home) / "models", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    return sources


def share_cache(sources: dict[str, tuple[Path, str]], shared: Path) -> dict[str, tuple[int, int]]:
    """Mirror ``sources`` into ``shared``, read-only; the files and bytes of each folder.

    Files are hard-linked (no extra disk) or copied; their mode becomes 0444, which
    for a hard link is also the original's: harmless, because the book replaces
    cache files by renaming new ones over them and never writes into one.
    """
    shared.mkdir(parents=True, exist_ok=True)
    shared.chmod(0o755)
    sizes = {}
    for name, (origin, pattern) in sources.items():
        target = shared / name
        target.mkdir(exist_ok=True)
        target.chmod(0o755)
        files = sorted(origin.glob(pattern)) if origin.is_dir() else []
        wanted = {p.name: p for p in files if p.is_file() and not p.name.endswith(".part")}
        for old in target.iterdir():
            if old.name not in wanted:
                old.unlink()
        size = 0
        for original in wanted.values():
            copy, stat = target / original.name, original.stat()
            if not (
                copy.exists()
                and copy.stat().st_size == stat.st_size
                and copy.stat().st_mtime == stat.st_mtime
            ):
                copy.unlink(missing_ok=True)
                try:
                    os.link(original, copy)
                except OSError:  # another file system, or links not allowed
                    shutil.copy2(original, copy)
            copy.chmod(0o444)
            size += stat.st_size
        target.chmod(0o555)
        sizes[name] = (len(wanted), size)
    shared.chmod(0o555)
    if not (sizes["weights"][0] or sizes["keras"][0]):
        raise SystemExit("make hub: no VGG16 weights to share; run `make data` first.")
    return sizes


def credentials(state: Path) -> dict[str, str]:
    """The shared participant password and the instructor's, kept between starts."""
    path = state / "credentials.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    saved.setdefault("user_password", "-".join(secrets.token_hex(2) for _ in range(3)))
    saved.setdefault("admin_password", secrets.token_urlsafe(32))
    path.touch(mode=0o600)
    path.write_text(json.dumps(saved, indent=2) + "\n")
    if os.environ.get("TLBOOK_HUB_PASSWORD"):
        saved["user_password"] = os.environ["TLBOOK_HUB_PASSWORD"]
    return saved


def memory_limit() -> tuple[int, str, int]:
    """The per-process limit in bytes, the largest chapter and its measured peak (MiB)."""
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    largest = max(results["chapters"], key=lambda row: row["peak_mib"])
    wanted = largest["peak_mib"] * MIB * LIMIT_FACTOR + LIMIT_PER_CORE * (os.cpu_count() or 1)
    limit = -(-int(wanted) // LIMIT_STEP) * LIMIT_STEP
    return limit, largest["chapter"], largest["peak_mib"]


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ip",
        default=env.get("TLBOOK_HUB_IP", "127.0.0.1"),
        help="address the hub listens on (default 127.0.0.1: this machine only)",
    )
    parser.add_argument("--port", type=int, default=int(env.get("TLBOOK_HUB_PORT", "8000")))
    parser.add_argument(
        "--users",
        type=int,
        default=int(env.get("TLBOOK_HUB_USERS", "10")),
        help="participant accounts user01 ... (default 10)",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=Path(env.get("TLBOOK_HUB_DIR", HUB / "state")),
        help="folder for the hub's database and the participants' folders",
    )
    parser.add_argument(
        "--api-port",
        type=int,
        default=int(env.get("TLBOOK_HUB_API_PORT", "8081")),
        help="the hub's internal API, on 127.0.0.1",
    )
    parser.add_argument(
        "--proxy-api-port",
        type=int,
        default=int(env.get("TLBOOK_HUB_PROXY_API_PORT", "8001")),
        help="the proxy's internal API, on 127.0.0.1",
    )
    parser.add_argument(
        "--mem-limit-mib",
        type=int,
        default=None,
        help="memory limit per process (default: from benchmarks/results.json)",
    )
    parser.add_argument(
        "--install-only", action="store_true", help="only install the proxy, then stop"
    )
    args = parser.parse_args(argv)

    install_proxy()
    if args.install_only:
        print(f"make hub: proxy installed ({PROXY.relative_to(ROOT)})")
        return 0
    sys.path.insert(0, str(ROOT))
    from utils.assets import cache_dir  # the book's own cache (TLBOOK_CACHE_DIR or data/cache)

    state = args.state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    sizes = share_cache(shared_sources(cache_dir()), state / "shared-cache")
    limit, chapter, peak = memory_limit()
    if args.mem_limit_mib:
        limit = args.mem_limit_mib * MIB
    secrets_ = credentials(state)
    print("make hub: a JupyterHub for a closed room. NOT FOR THE OPEN INTERNET: one shared")
    print("  password, plain HTTP, participants are not isolated from one another.")
    print(f"  address:      http://{args.ip}:{args.port}/")
    print(f"  participants: user01 ... user{args.users:02d}, password {secrets_['user_password']}")
    print(f"  instructor:   instructor, password in {state / 'credentials.json'} (admin)")
    for name, (count, size) in sizes.items():
        if count or name != "keras":  # keras: Keras's own weights file, if make data used it
            print(f"  shared, read-only: {name} ({count} files, {size / MIB:.0f} MiB)")
    print(
        f"  memory limit: {limit / MIB:.0f} MiB per process (RLIMIT_DATA), from the largest "
        f"chapter, {chapter} ({peak} MiB peak); not per participant, CPU not limited"
    )
    if os.geteuid() == 0:
        print("  WARNING: the hub runs as root, and so do the participants' servers: whoever signs")
        print(
            "  in can do anything on this machine. Run `make hub` as an ordinary user if you can."
        )
    if args.ip not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"  WARNING: listening on {args.ip}: anyone who can reach it and knows the password "
            "gets a Python shell on this machine."
        )
    child_env = dict(
        env,
        TLBOOK_HUB_DIR=str(state),
        TLBOOK_HUB_SHARED=str(state / "shared-cache"),
        TLBOOK_HUB_MEM_LIMIT=str(limit),
        TLBOOK_HUB_USERS=str(args.users),
        TLBOOK_HUB_IP=args.ip,
        TLBOOK_HUB_PORT=str(args.port),
        TLBOOK_HUB_API_PORT=str(args.api_port),
        TLBOOK_HUB_PROXY_API_PORT=str(args.proxy_api_port),
        TLBOOK_HUB_PASSWORD=secrets_["user_password"],
        TLBOOK_HUB_ADMIN_PASSWORD=secrets_["admin_password"],
    )
    sys.stdout.flush()
    hub = str(BIN / "jupyterhub")
    os.execve(hub, [hub, "-f", str(HUB / "jupyterhub_config.py")], child_env)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
