"""JupyterHub for a workshop in one room: `make hub` (hub/launch.py) starts it with this file.

NOT FOR THE OPEN INTERNET. Everyone signs in with one shared password (any
participant can sign in as any other), traffic is plain HTTP, and every
participant's server runs as the same Unix account, so participants can read
each other's files. It is meant for a closed room on one machine, bound to
127.0.0.1 unless the instructor names another address.

What it does:

- accounts ``user01`` to ``userNN`` with the shared password (JupyterHub's
  SharedPasswordAuthenticator), and ``instructor`` with its own admin password;
- each participant's server runs in ``<state>/users/<name>/``, which gets its
  own copy of the chapters on first start; a chapter already there is never
  overwritten (a chapter missing from it, new or deleted, is copied again);
- one read-only copy of the weights, the downloads and the precomputed VGG16
  features (``<state>/shared-cache/``, prepared by hub/launch.py) serves
  everyone: each participant's ``TLBOOK_CACHE_DIR`` holds links to it, and
  writable ``models/`` and ``runs/`` of their own (chapters 06 and 08 save models);
- a memory limit on every process of a participant's server (RLIMIT_DATA, see
  ``make_preexec_fn``): enforced by the kernel per process, not per participant;
- the shared copy is read-only to participants by its permissions (folders
  0555). Root ignores permissions, so when the hub runs as root each server
  runs in a mount namespace of its own in which the shared copy is mounted
  read-only (``unshare``). Root can undo that, and a participant's server that
  runs as root gives that participant the machine: run ``make hub`` as an
  ordinary user where you can.

hub/launch.py sets the TLBOOK_HUB_* variables read below.
"""

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner

c = get_config()  # noqa: F821 (JupyterHub provides get_config)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
try:
    STATE = Path(os.environ["TLBOOK_HUB_DIR"])
    SHARED = Path(os.environ["TLBOOK_HUB_SHARED"])
    MEM_LIMIT = int(os.environ["TLBOOK_HUB_MEM_LIMIT"])  # bytes, per process
    USERS = int(os.environ["TLBOOK_HUB_USERS"])
except KeyError as missing:
    raise SystemExit(
        f"{missing} is not set: start the hub with `make hub` (hub/launch.py)."
    ) from None
SHARED_FOLDERS = ("weights", "features", "downloads")  # read-only, from SHARED
OWN_FOLDERS = ("models", "runs")  # what chapters write besides features: one per participant
CACHE_NAME = ".tlbook-cache"  # each participant's TLBOOK_CACHE_DIR, in their folder
# Under root: start every server through `unshare`, in a mount namespace in which
# SHARED is mounted read-only over itself, if this machine allows it (a container
# without CAP_SYS_ADMIN does not: then the shared copy is writable by root).
READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"'
WRAP = ["unshare", "--mount", "sh", "-c", READ_ONLY_MOUNT, str(SHARED)]
if os.geteuid() != 0 or not shutil.which("unshare"):
    WRAP = []
elif subprocess.run([*WRAP, "true"], capture_output=True, timeout=30).returncode != 0:
    print(
        "make hub: WARNING: unshare cannot mount the shared cache read-only here, so the "
        "servers, which run as root, can write to it.",
        file=sys.stderr,
    )
    WRAP = []


class BookSpawner(SimpleLocalProcessSpawner):
    """Every participant's server on this machine, as one account, in a folder of its own.

    JupyterHub's LocalProcessSpawner needs a Unix account per participant; this
    one needs none (simple for a closed room, with no isolation between
    participants). It adds the copy of the chapters, the shared cache and the
    memory limit to JupyterHub's SimpleLocalProcessSpawner.
    """

    home_dir_template = str(STATE / "users" / "{username}")

    def prepare_folder(self) -> None:
        """Create the participant's folder: chapters copied once, the shared cache linked."""
        home = Path(self.home_dir)
        cache = home / CACHE_NAME
        keras = home / ".keras" / "models"  # where Keras's official weights file is looked for
        folders = [home, home / "notebooks", cache, keras.parent, keras]
        for folder in folders + [cache / name for name in OWN_FOLDERS]:
            if not folder.is_dir():
                folder.mkdir(parents=True)
        for chapter in sorted((ROOT / "notebooks").glob("*.ipynb")):
            copy = home / "notebooks" / chapter.name
            if not copy.exists():  # never overwrite a participant's work
                shutil.copyfile(chapter, copy)
        links = [(cache / name, SHARED / name) for name in SHARED_FOLDERS]
        links += [(keras / file.name, file) for file in (SHARED / "keras").iterdir()]
        for link, target in links:
            if not link.is_symlink():
                link.symlink_to(target)

    async def start(self):
        self.prepare_folder()
        return await super().start()

    def make_preexec_fn(self, name):
        home, limit = self.home_dir, MEM_LIMIT

        def preexec():  # in the new process, before the server starts; errors stop the spawn
            # RLIMIT_DATA caps each process's private writable memory (heap, anonymous
            # mmaps, thread stacks); the server and every kernel it starts inherit it.
            # Above it, allocations fail: a MemoryError, or a kernel that dies and restarts.
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
            os.chdir(home)

        return preexec

    def user_env(self, env):
        env = super().user_env(env)
        env["TLBOOK_CACHE_DIR"] = str(Path(self.home_dir) / CACHE_NAME)
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', os.defpath)}"
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        return env


c.JupyterHub.bind_url = f"http://{os.environ.get('TLBOOK_HUB_IP', '127.0.0.1')}:" + os.environ.get(
    "TLBOOK_HUB_PORT", "8000"
)
c.JupyterHub.hub_ip = "127.0.0.1"  # the hub's own API: for the proxy and the servers only
c.JupyterHub.hub_port = int(os.environ.get("TLBOOK_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{os.environ.get('TLBOOK_HUB_PROXY_API_PORT', '8001')}"
)
c.ConfigurableHTTPProxy.command = [
    str(ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy")
]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")

# A closed room only: one shared password for every participant (8 characters or more).
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ["TLBOOK_HUB_PASSWORD"]
c.SharedPasswordAuthenticator.admin_password = os.environ["TLBOOK_HUB_ADMIN_PASSWORD"]
c.Authenticator.allowed_users = {f"user{i:02d}" for i in range(1, USERS + 1)}
c.Authenticator.admin_users = {"instructor"}

c.JupyterHub.spawner_class = BookSpawner
c.Spawner.cmd = [*WRAP, str(BIN / "jupyterhub-singleuser")]
c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []  # see the warning above
c.Spawner.default_url = "/lab/tree/notebooks"
c.Spawner.mem_limit = MEM_LIMIT  # shown to the server as MEM_LIMIT; enforced by preexec above
c.Spawner.start_timeout = 180  # many participants starting at once on few cores
c.Spawner.http_timeout = 180

# A token with the rights to manage users and reach their servers, for scripts and
# tests (tests/test_hub.py): only when TLBOOK_HUB_API_TOKEN is set.
if os.environ.get("TLBOOK_HUB_API_TOKEN"):
    c.JupyterHub.services = [
        {"name": "book-admin", "api_token": os.environ["TLBOOK_HUB_API_TOKEN"]}
    ]
    c.JupyterHub.load_roles = [
        {
            "name": "book-admin",
            "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "list:users"],
            "services": ["book-admin"],
        }
    ]
