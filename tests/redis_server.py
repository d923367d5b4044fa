"""Real redis-servers on free loopback ports, started and stopped by the tests: one server, or a
Redis Cluster formed with redis-cli."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

# A self-signed certificate for 127.0.0.1 (valid until 2126), only for the tests' TLS cluster.
TLS_CERT = Path(__file__).parent / "tls" / "cert.pem"
TLS_KEY = Path(__file__).parent / "tls" / "key.pem"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_cluster_port() -> int:
    """A free port whose cluster bus port (the port + 10000) is free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def require_redis() -> str:
    found = shutil.which("redis-server")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing in CI; .ci/run installs it with apt-get")
        pytest.skip("redis-server is not installed here (apt-get install redis-server); CI runs these")
    return found


class RedisServer:
    """One redis-server process with an append-only file, so a restart keeps what was saved."""

    def __init__(self, folder: Path) -> None:
        self.binary = require_redis()
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
            conn.sendall(b"FLUSHALL\r\n")
            conn.recv(16)


def require_redis_cli() -> str:
    require_redis()
    found = shutil.which("redis-cli")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("redis-cli is missing in CI; the redis-server package ships it")
        pytest.skip("redis-cli is not installed here (it comes with redis-server); CI runs these")
    return found


class RedisClusterServers:
    """A real Redis Cluster on loopback ports: `masters` masters, each with `replicas` replicas.

    Replicas never fail over by themselves (cluster-replica-no-failover): a test that kills a
    master promotes its replica with CLUSTER FAILOVER FORCE, so what happens when is up to the
    test, not a timer. Every node asks for a password, so the URL's password is proven to work.
    """

    PASSWORD = "cluster-secret"

    def __init__(
        self,
        folder: Path,
        masters: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 5000,
        tls: bool = False,
    ) -> None:
        self.tls = tls
        self.binary = require_redis()
        self.cli = require_redis_cli()
        self.folder = folder
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.ports = [free_cluster_port() for _ in range(masters * (1 + replicas))]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.killed: set[int] = set()

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss+cluster://:{self.PASSWORD}@127.0.0.1:{self.ports[0]}?ssl_ca_certs={TLS_CERT}"
        return f"redis+cluster://:{self.PASSWORD}@127.0.0.1:{self.ports[0]}"

    def _ask(self, port: int, *command: str) -> Any:
        """One command to one node, as redis-cli would send it (no redirects followed)."""
        tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": str(TLS_CERT)} if self.tls else {}
        with redis.Redis(
            host="127.0.0.1",
            port=port,
            password=self.PASSWORD,
            decode_responses=True,
            socket_timeout=5,
            **tls,
        ) as node:
            return node.execute_command(*command)

    def _launch(self, port: int) -> None:
        """One node, its data and nodes.conf in its own folder, so a restart rejoins as itself."""
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        listen = ["--port", str(port)]
        if self.tls:  # clients, the cluster bus and replication all over TLS
            listen = ["--port", "0", "--tls-port", str(port), "--tls-cluster", "yes",
                      "--tls-replication", "yes", "--tls-cert-file", str(TLS_CERT),
                      "--tls-key-file", str(TLS_KEY), "--tls-ca-cert-file", str(TLS_CERT),
                      "--tls-auth-clients", "no"]  # fmt: skip
        self.processes[port] = subprocess.Popen(
            [self.binary, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--dir", str(folder), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms), "--cluster-replica-no-failover", "yes",
             "--requirepass", self.PASSWORD, "--masterauth", self.PASSWORD],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def start(self) -> None:
        try:
            self._form()
        except BaseException:
            self.stop()  # no node outlives a cluster that could not be formed
            raise

    def _form(self) -> None:
        for port in self.ports:
            self._launch(port)
        self._wait(
            lambda: all(self._ask(port, "PING") for port in self.ports), "a cluster node did not start"
        )
        created = subprocess.run(
            [self.cli, *(["--tls", "--cacert", str(TLS_CERT)] if self.tls else []),
             "-a", self.PASSWORD, "--no-auth-warning", "--cluster", "create",
             *(f"127.0.0.1:{port}" for port in self.ports), "--cluster-replicas", str(self.replicas),
             "--cluster-yes"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")
        self.wait_healthy()

    def wait_healthy(self) -> None:
        """Until every live node says cluster_state:ok and the masters are the ones expected."""

        masters = len(self.ports) // (1 + self.replicas)

        def healthy() -> bool:
            states = {self._ask(port, "CLUSTER INFO")["cluster_state"] for port in self.live()}
            flags = [set(node["flags"].split(",")) for node in self.nodes().values()]
            replicas = [f for f in flags if "slave" in f and "fail" not in f]
            return (
                states == {"ok"}
                and len(self.masters()) == masters
                and len(replicas) >= len(self.live()) - masters
            )

        self._wait(healthy, "the cluster did not become healthy")

    def live(self) -> list[int]:
        return [port for port, process in self.processes.items() if process.poll() is None]

    def nodes(self) -> dict[int, dict[str, Any]]:
        """CLUSTER NODES as a live node sees it, by port: node_id, flags, master_id, slots."""
        seen = self._ask(self.live()[0], "CLUSTER NODES")
        return {int(address.rsplit(":", 1)[1]): node for address, node in seen.items()}

    def masters(self) -> list[int]:
        """Live masters that serve slots."""
        live = set(self.live())
        return [port for port, node in self.nodes().items()
                if port in live and "master" in node["flags"].split(",") and node["slots"]]  # fmt: skip

    def replica_of(self, master: int) -> int:
        nodes = self.nodes()
        return next(port for port, node in nodes.items() if node["master_id"] == nodes[master]["node_id"])

    def keys(self, port: int, pattern: str) -> list[str]:
        """The keys matching `pattern` that this node holds."""
        return list(self._ask(port, "KEYS", pattern))

    def holder(self, pattern: str) -> int:
        """The master holding the one key that matches `pattern`."""
        held = [port for port in self.masters() if self.keys(port, pattern)]
        assert len(held) == 1, held
        return held[0]

    def wait_replicated(self, master: int) -> None:
        """Until the master's replica has everything the master acknowledged (replication is async)."""
        replica = self.replica_of(master)

        def caught_up() -> bool:
            wanted = self._ask(master, "INFO", "replication")["master_repl_offset"]
            return bool(self._ask(replica, "INFO", "replication").get("slave_repl_offset", -1) >= wanted)

        self._wait(caught_up, "the replica did not catch up")

    def kill(self, port: int) -> None:
        self.killed.add(port)
        self.processes[port].kill()
        self.processes[port].wait()

    def restart(self, port: int) -> None:
        """Start a killed node again; it rejoins the cluster as the node it was."""
        self.killed.discard(port)
        self._launch(port)
        self.wait_healthy()

    def wait_down(self) -> None:
        """Until the live nodes agree the cluster is down (a master failed with no replica)."""

        def down() -> bool:
            states = {self._ask(port, "CLUSTER INFO")["cluster_state"] for port in self.live()}
            return states == {"fail"}

        self._wait(down, "the cluster was never declared down")

    def promote(self, replica: int) -> None:
        """Fail over to `replica` whose master is down, as an operator (or a short node timeout) would."""
        self._ask(replica, "CLUSTER FAILOVER", "FORCE")
        self._wait(lambda: replica in self.masters(), "the replica was not promoted")
        self.wait_healthy()

    def flush(self) -> None:
        for port in self.masters():
            self._ask(port, "FLUSHALL")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()  # nothing to keep, and a master would wait for its replicas
                process.wait(timeout=10)
        self.processes.clear()

    def _wait(self, ready: Callable[[], object], failure: str) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(self.processes[port].poll() is not None for port in self.ports if port not in self.killed):
                raise RuntimeError(f"{failure}: a node exited")
            try:
                if ready():
                    return
            except (OSError, redis.RedisError):
                pass
            time.sleep(0.05)
        raise RuntimeError(failure)
