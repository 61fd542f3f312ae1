"""A real Milvus standalone server for the tests: PyPI's ``milvus`` (2.3) on private ports in a temp folder.

Import the fixture where it is used (``from tests.milvus_server import milvus_server_uri``); tests
that take it are the slow tier. Without the ``milvus`` package (``pip install -r
requirements-dev.txt``) or on a platform it has no binary for, they are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# Internal ports Milvus standalone opens besides the proxy; all go to one private block.
_INTERNAL_PORTS = ("etcd_port", "proxy_internal_port", "root_coord_port", "query_coord_port", "query_node_port",
                   "index_coord_port", "index_node_port", "data_coord_port", "data_node_port")


def missing() -> str | None:
    """Why a real Milvus server cannot run here, or None when it can."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return f"the `milvus` package ships a server binary for linux x86_64 only, not {sys.platform} {platform.machine()}"
    try:
        import milvus  # noqa: F401
    except ImportError:
        return "needs PyPI's `milvus` package (the Milvus 2.3 standalone server): pip install -r requirements-dev.txt"
    return None


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_block(size: int, seed: int) -> int:
    """The first port of ``size`` consecutive free ports (seeded by the process id: workers differ)."""
    for attempt in range(200):
        base = 30000 + (seed * 97 + attempt * 211) % 25000
        if all(_bindable(base + i) for i in range(size)):
            return base
    raise RuntimeError(f"no block of {size} free ports for a Milvus server")


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found += [int(entry), *_children(int(entry))]
    return found


class MilvusServerProcess:
    """One Milvus 2.3 standalone: ``start()`` returns its URI once it answers, ``stop()`` ends it and its children."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()  # the wrapper chdirs into it: relative paths would break etcd
        self.server = None
        self.uri = ""

    def start(self, timeout: float = 180.0) -> str:
        from milvus import MilvusServer, MilvusServerConfig

        class _Config(MilvusServerConfig):
            def try_bind_port(self, port):  # the wrapper's own check lacks SO_REUSEADDR (TIME_WAIT after a restart)
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                    sock.listen()
                    return sock
                except OSError:
                    sock.close()
                    return None

        base = _free_block(len(_INTERNAL_PORTS) + 3, os.getpid())
        port, peer, web = base + len(_INTERNAL_PORTS), base + len(_INTERNAL_PORTS) + 1, base + len(_INTERNAL_PORTS) + 2
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = _Config(data_dir=str(self.data_dir))
        self.server = MilvusServer(config, wait_for_started=False)
        # A Strong read waits for the next time tick: every 50 ms rather than 200 (the tests make
        # hundreds of reads; a read took ~0.2-0.35 s, now ~0.05-0.13). Nothing else differs from a default server.
        for key, value in {"common.gracefulStopTimeout": 1, "common.session.ttl": 10, "proxy.timeTickInterval": 50}.items():
            config.set(key, value)
        config.configs["proxy_port"] = port
        for i, key in enumerate(_INTERNAL_PORTS):
            config.configs[key] = base + i
        # embedded etcd listens on 2379/2380 whatever etcd_port says, unless given its own config file
        etcd = self.data_dir / "etcd-embed.yaml"
        etcd.write_text(
            f"name: default\nlisten-client-urls: http://127.0.0.1:{base}\nadvertise-client-urls: http://127.0.0.1:{base}\n"
            f"listen-peer-urls: http://127.0.0.1:{peer}\ninitial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-cluster: default=http://127.0.0.1:{peer}\n"
        )
        self.server.webservice_port = web  # where the scan for the /healthz port starts
        with _environment(ETCD_CONFIG_PATH=str(etcd)):
            self.server.start()
        self.uri = f"http://127.0.0.1:{port}"
        self._wait(port, timeout)
        return self.uri

    def _wait(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.server_proc.poll() is not None:
                raise RuntimeError(f"milvus exited with {self.server.server_proc.returncode}; see {self.data_dir}/logs")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.server.webservice_port}/healthz", timeout=2) as reply:
                    if b"OK" in reply.read():
                        with socket.create_connection(("127.0.0.1", port), timeout=2):
                            return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"milvus did not answer within {timeout:.0f} s; see {self.data_dir}/logs")

    @property
    def pid(self) -> int:
        return self.server.server_proc.pid

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM and time for a clean shutdown (the wrapper kills after 1 s), then its children."""
        if self.server is None or self.server.server_proc is None:
            return
        process = self.server.server_proc
        children = _children(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)  # a test may have frozen it
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        self.server.server_proc = None
        self.server.stop()  # closes its log files


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory) -> Iterator[MilvusServerProcess]:
    """A Milvus standalone server for the whole session (skips with the reason when it cannot run)."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    server = MilvusServerProcess(tmp_path_factory.mktemp("milvus-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def milvus_server_uri(milvus_server) -> str:
    """The address of the session's Milvus server (``http://127.0.0.1:PORT``)."""
    return milvus_server.uri
