"""The classroom hub of `make hub`: two participants run chapter 00 on one JupyterHub.

The test starts hub/launch.py on 127.0.0.1 with free ports and a state folder
of its own, creates two users through the hub's REST API, starts both servers,
and runs every code cell of each participant's copy of chapter 00 in a kernel
of that participant's server, through the Jupyter server's REST API and kernel
websocket (both participants at once). Then it checks that

- both runs succeed, and both read the shared read-only cache: the weights come
  from it, no features had to be computed, nothing in it changed (names, sizes,
  mtimes), and it cannot be written from a participant's kernel;
- features that cannot be cached are still returned, with a warning, and a
  model can be saved (chapters 06 and 08 do) in the participant's own cache;
- every process of a server carries the memory limit (RLIMIT_DATA), and an
  allocation above it fails;
- each participant got their own copy of the chapters, and a chapter already
  in a participant's folder was not overwritten;
- stopping the servers and the hub ends every process they started.

Loopback only; every wait has a timeout. It prints the start-up times and the
peak memory (RSS) of each participant's server and kernel. It needs the hub's
packages and the proxy (`make hub` or `make test` install them), chapter 00's
features in the book's cache (`make test` runs the chapters before the tests),
and about 3 GB of memory.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

requests = pytest.importorskip("requests")
websocket = pytest.importorskip("websocket")  # websocket-client
pytest.importorskip("jupyterhub", reason="the hub's packages: `pip install -e '.[hub]'`")

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / "hub" / "launch.py"
PROXY = ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
USERS = ["ada", "grace"]
CHAPTER = "notebooks/00_welcome.ipynb"
HUB_START_TIMEOUT = 120
SERVER_START_TIMEOUT = 240
CELL_TIMEOUT = 600
CHAPTER_TIMEOUT = 1200  # both participants at once on two cores
STOP_TIMEOUT = 60
REQUEST_TIMEOUT = 30
MIB = 2**20

pytestmark = pytest.mark.skipif(
    not PROXY.exists(), reason="the proxy is not installed: run `make hub` or `make test`"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def tree_state(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: kind, size and mtime (a write changes one of them)."""
    state = {}
    for path in sorted(folder.rglob("*")):
        stat = path.lstat()
        state[str(path.relative_to(folder))] = (stat.st_mode, stat.st_size, stat.st_mtime_ns)
    stat = folder.lstat()
    state["."] = (stat.st_mode, stat.st_mtime_ns)
    return state


class Hub:
    """A running hub/launch.py, driven through the REST API with an admin service token."""

    def __init__(self, state: Path):
        self.state = state
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(32)
        self.log = open(state.parent / "hub.log", "w")  # noqa: SIM115 (closed in stop)
        env = dict(os.environ, TLBOOK_HUB_API_TOKEN=self.token, TLBOOK_HUB_PASSWORD="not-a-secret")
        command = [
            sys.executable, str(LAUNCH), "--ip", "127.0.0.1", "--port", str(self.port),
            "--api-port", str(free_port()), "--proxy-api-port", str(free_port()),
            "--users", "0", "--state", str(state),
        ]  # fmt: skip
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def api(self, method: str, path: str, **kwargs):
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(
            method, f"{self.url}{path}", headers=headers, timeout=REQUEST_TIMEOUT, **kwargs
        )

    def up(self) -> bool:
        assert self.process.poll() is None, f"the hub stopped:\n{self.log_text()}"
        try:
            return self.api("GET", "/hub/api/").status_code == 200
        except requests.ConnectionError:
            return False

    def log_text(self) -> str:
        self.log.flush()
        return (self.state.parent / "hub.log").read_text()[-6000:]

    def processes(self) -> list[psutil.Process]:
        """The hub and everything it started (the proxy, servers and their kernels)."""
        hub = psutil.Process(self.process.pid)
        return [hub, *hub.children(recursive=True)]

    def servers(self) -> dict[str, psutil.Process]:
        found = {}
        for proc in self.processes():
            try:
                user = proc.environ().get("JUPYTERHUB_USER")
                if user and "jupyterhub-singleuser" in " ".join(proc.cmdline()):
                    found[user] = proc
            except psutil.Error:
                continue
        return found

    def stop(self) -> list[psutil.Process]:
        """SIGTERM the hub (it stops the servers and the proxy); the processes left behind."""
        started = []
        try:
            started = self.processes()
        except psutil.Error:
            pass
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        _, alive = psutil.wait_procs(started, timeout=10)
        for proc in alive:  # leave nothing running, then report it
            try:
                proc.kill()
            except psutil.Error:
                pass
        self.log.close()
        return alive


class Kernel:
    """One websocket to a kernel of a Jupyter server, as JupyterLab keeps one per notebook.

    One for the whole chapter: here, each new connection to a kernel drew from the
    kernel's Python `random`, so one per cell changed chapter 00's random VGG16,
    and with it the key of its cached features.
    """

    def __init__(self, url: str, token: str, kernel_id: str):
        self.session = uuid.uuid4().hex
        self.connection = websocket.create_connection(
            url.replace("http://", "ws://")
            + f"/api/kernels/{kernel_id}/channels?session_id={self.session}",
            header=[f"Authorization: token {token}"],
            timeout=CELL_TIMEOUT,
        )

    def close(self):
        self.connection.close()

    def execute(self, code: str, timeout: float) -> dict:
        """Run ``code``: its outputs and the kernel's reply."""
        msg_id = uuid.uuid4().hex
        message = {
            "header": {"msg_id": msg_id, "username": "test", "session": self.session,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }  # fmt: skip
        outputs, reply, idle = [], None, False
        deadline = time.monotonic() + timeout
        self.connection.settimeout(timeout)
        self.connection.send(json.dumps(message))
        while reply is None or not idle:
            if time.monotonic() > deadline:
                raise AssertionError(f"a cell ran for more than {timeout} s:\n{code[:300]}")
            frame = self.connection.recv()
            if not isinstance(frame, str):
                continue  # a binary frame (widget buffers): not needed here
            msg = json.loads(frame)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if msg["channel"] == "shell" and kind == "execute_reply":
                reply = msg["content"]
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
            elif kind in ("stream", "error", "execute_result", "display_data"):
                outputs.append(msg["content"] | {"type": kind})
        return {"reply": reply, "outputs": outputs}


def text_of(result: dict) -> str:
    parts = []
    for out in result["outputs"]:
        if out["type"] == "stream":
            parts.append(out["text"])
        elif out["type"] == "error":
            parts.append("\n".join(out["traceback"]))
        elif "text/plain" in out.get("data", {}):
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


class Participant(threading.Thread):
    """Runs every code cell of one participant's copy of chapter 00, then a few checks."""

    def __init__(self, hub: Hub, name: str, extra_cells: list[str]):
        super().__init__(name=f"participant-{name}", daemon=True)
        self.hub, self.user, self.extra_cells = hub, name, extra_cells
        self.url = f"{hub.url}/user/{name}"
        self.results, self.error, self.kernel_id, self.seconds = [], None, None, None

    def run(self):
        try:
            self._run()
        except BaseException as error:  # reported by the test
            self.error = error

    def _run(self):
        headers = {"Authorization": f"token {self.hub.token}"}
        content = requests.get(
            f"{self.url}/api/contents/{CHAPTER}", headers=headers, timeout=REQUEST_TIMEOUT
        )
        content.raise_for_status()
        cells = [
            c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            for c in content.json()["content"]["cells"]
            if c["cell_type"] == "code"
        ]
        session = requests.post(
            f"{self.url}/api/sessions",
            headers=headers,
            json={"path": CHAPTER, "type": "notebook", "kernel": {"name": "python3"}},
            timeout=REQUEST_TIMEOUT,
        )
        session.raise_for_status()
        self.kernel_id = session.json()["kernel"]["id"]
        kernel = Kernel(self.url, self.hub.token, self.kernel_id)
        start = time.monotonic()
        try:
            for code in cells + self.extra_cells:
                left = CHAPTER_TIMEOUT - (time.monotonic() - start)
                assert left > 0, f"chapter 00 took more than {CHAPTER_TIMEOUT} s for {self.user}"
                result = kernel.execute(code, min(CELL_TIMEOUT, left))
                self.results.append(result)
                if result["reply"]["status"] != "ok":
                    break
        finally:
            kernel.close()
        self.seconds = time.monotonic() - start


class MemoryWatch(threading.Thread):
    """Peak RSS of each participant's server and of its processes together, every 0.5 s."""

    def __init__(self, hub: Hub):
        super().__init__(daemon=True)
        self.hub, self.stopped = hub, threading.Event()
        self.peak_total: dict[str, int] = {}

    def run(self):
        while not self.stopped.is_set():
            for user, server in self.hub.servers().items():
                try:
                    procs = [server, *server.children(recursive=True)]
                    total = sum(p.memory_info().rss for p in procs)
                except psutil.Error:
                    continue
                self.peak_total[user] = max(self.peak_total.get(user, 0), total)
            self.stopped.wait(0.5)


def peak_rss(proc: psutil.Process) -> int:
    """VmHWM: the largest resident memory the process ever had."""
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {proc.pid}")


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc and sets Linux limits")
def test_two_participants_run_chapter_00_on_the_hub():
    top = Path(tempfile.mkdtemp(prefix="tlbook-hub-test-"))
    state = top / "state"
    # grace already has chapter 01 in her folder: the hub must not overwrite it
    kept = state / "users" / "grace" / "notebooks" / "01_transfer_in_pictures.ipynb"
    kept.parent.mkdir(parents=True)
    kept.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n')

    hub = Hub(state)
    leftovers = []
    try:
        wait_for(hub.up, HUB_START_TIMEOUT, "the hub's REST API")
        hub_seconds = time.monotonic() - hub.started
        shared = state / "shared-cache"
        before = tree_state(shared)
        assert before, "hub/launch.py built no shared cache"

        # two users, created through the REST API, and their servers, started at once
        created = hub.api("POST", "/hub/api/users", json={"usernames": USERS})
        assert created.status_code == 201, created.text
        start = time.monotonic()
        for user in USERS:
            response = hub.api("POST", f"/hub/api/users/{user}/server")
            assert response.status_code in (201, 202), response.text
        ready = {}

        def all_ready():
            for user in USERS:
                if user not in ready:
                    model = hub.api("GET", f"/hub/api/users/{user}").json()
                    if model["servers"].get("", {}).get("ready"):
                        ready[user] = time.monotonic() - start
            return len(ready) == len(USERS)

        wait_for(all_ready, SERVER_START_TIMEOUT, "both servers", interval=0.2)
        servers = hub.servers()
        assert set(servers) == set(USERS), f"servers found: {sorted(servers)}"

        limit_bytes = int(servers[USERS[0]].environ()["MEM_LIMIT"])
        checks = [
            # where the weights were read from
            "import os\nfrom utils import weights as _w\n"
            "_found = [p for p in (_w.keras_weights_path(), _w.converted_weights_path())"
            " if p.is_file()]\nprint('WEIGHTS', os.path.realpath(_found[0]))",
            # the shared cache is read-only for the participant
            "import pathlib\n_p = pathlib.Path(os.environ['TLBOOK_CACHE_DIR'], 'features', 'x')\n"
            "try:\n    _p.write_bytes(b'x')\n    print('SHARED WRITABLE')\n"
            "except OSError as _e:\n    print('SHARED READ-ONLY', type(_e).__name__, _e.strerror)",
            # features that cannot be cached are still returned, with a warning
            "import warnings\nwith warnings.catch_warnings(record=True) as _caught:\n"
            "    warnings.simplefilter('always')\n"
            "    _f = features.extract_features(imagenet_base, x_test[:7], IMAGE_SIZE)\n"
            "print('UNCACHED', _f.shape, [str(w.message)[:23] for w in _caught\n"
            "                             if str(w.message).startswith('Could not save')])",
            # a model is saved in the participant's own cache (chapters 06 and 08 do)
            "from utils import finetune, model_files\n"
            "print('SAVED', model_files.save_model(probes['ImageNet'],\n"
            "                                      finetune.model_path('hub_test_probe')))",
            # an allocation above the limit fails
            f"try:\n    _big = bytearray({limit_bytes})\n    print('NOT LIMITED')\n"
            "except MemoryError:\n    print('LIMITED')",
        ]
        watch = MemoryWatch(hub)
        watch.start()
        runs = [Participant(hub, user, checks) for user in USERS]
        for run in runs:
            run.start()
        for run in runs:
            run.join(CHAPTER_TIMEOUT + 60)
        watch.stopped.set()
        watch.join(10)

        memory = {}
        for run in runs:
            assert not run.is_alive(), f"{run.user}'s chapter did not finish"
            assert run.error is None, f"{run.user}: {run.error!r}"
            failed = [r for r in run.results if r["reply"]["status"] != "ok"]
            assert not failed, f"{run.user}: a cell failed:\n{text_of(failed[0])[-3000:]}"
            output = "\n".join(text_of(r) for r in run.results)
            home = state / "users" / run.user
            weights_line = next(line for line in output.splitlines() if line.startswith("WEIGHTS"))
            assert weights_line.split(" ", 1)[1].startswith(str(shared)), weights_line
            chapter_output = "\n".join(text_of(r) for r in run.results[: -len(checks)])
            assert "Could not save features" not in chapter_output, (
                "chapter 00 computed features the shared cache should have had: run chapter 00 "
                "once in the book's own cache (`make test` does) before this test:\n"
                + "\n".join(line for line in chapter_output.splitlines() if "eatures" in line)
            )  # fmt: skip
            assert "SHARED READ-ONLY" in output, output[-2000:]
            assert "UNCACHED (7, 4, 4, 256) ['Could not save features']" in output, output[-2000:]
            assert f"SAVED {home / '.tlbook-cache' / 'models' / 'hub_test_probe.keras'}" in output
            assert "LIMITED" in output and "NOT LIMITED" not in output
            # the servers and kernels carry the limit
            server = servers[run.user]
            kernel = next(
                p for p in server.children(recursive=True) if "ipykernel" in " ".join(p.cmdline())
            )
            for proc in (server, kernel):
                assert proc.rlimit(psutil.RLIMIT_DATA) == (limit_bytes, limit_bytes)
            memory[run.user] = {
                "server_peak_mib": round(peak_rss(server) / MIB),
                "kernel_peak_mib": round(peak_rss(kernel) / MIB),
                "together_peak_mib": round(watch.peak_total[run.user] / MIB),
                "chapter_seconds": round(run.seconds, 1),
                "server_start_seconds": round(ready[run.user], 1),
                "checks": [line for line in output.splitlines() if line.isupper() or
                           line.split(" ")[0] in ("WEIGHTS", "SHARED", "UNCACHED", "SAVED")],
            }  # fmt: skip
            copies = sorted(p.name for p in (home / "notebooks").glob("*.ipynb"))
            assert copies == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
        assert "cells" in json.loads(kept.read_text()) and not json.loads(kept.read_text())["cells"]

        # nothing was written into the shared cache, nothing was rebuilt
        assert tree_state(shared) == before
        for user in USERS:
            own = state / "users" / user / ".tlbook-cache"
            for name in ("weights", "features", "downloads"):
                assert (own / name).is_symlink() and (own / name).resolve() == shared / name

        # stop both servers through the API: their processes end, kernels included
        server_procs = [p for s in servers.values() for p in [s, *s.children(recursive=True)]]
        for user in USERS:
            response = hub.api("DELETE", f"/hub/api/users/{user}/server")
            assert response.status_code in (202, 204), response.text
        _, alive = psutil.wait_procs(server_procs, timeout=STOP_TIMEOUT)
        assert not alive, f"still running after the servers were stopped: {alive}"
        hub_procs = [p for p in hub.processes() if p not in server_procs]
        print(
            f"\nhub: API up {hub_seconds:.1f} s after launch; hub and proxy peak "
            + ", ".join(f"{p.name()} {peak_rss(p) / MIB:.0f} MiB" for p in hub_procs)
            + f"; limit {limit_bytes / MIB:.0f} MiB"
            " per process\n" + json.dumps(memory, indent=2)
        )
    except BaseException:
        print(f"\nthe hub's log (last lines):\n{hub.log_text()}")
        raise
    finally:
        leftovers = hub.stop()
        for folder in [top, *top.rglob("*")]:  # the shared cache is read-only
            if folder.is_dir() and not folder.is_symlink():
                folder.chmod(0o755)
        shutil.rmtree(top, ignore_errors=True)
    assert hub.process.returncode is not None
    assert not leftovers, f"processes left running after the hub stopped: {leftovers}"
