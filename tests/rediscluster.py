"""A real 3-master Redis Cluster for tests (issue 20): three ``redis-server --cluster-enabled yes``
on free ports (client and bus ports both chosen free, AOF on), joined by ``redis-cli --cluster
create``, ready once every node reports ``cluster_state:ok``; a master restarts in place (AOF
recovery, crash tests)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from app.services import free_port, system_binary, wait_for_port


@dataclass
class ClusterService:
    """Three masters; ``url`` names the cluster (``redis+cluster://``, what OneMap reads)."""

    ports: list[int]
    procs: list[subprocess.Popen] = field(default_factory=list)
    args: list[list[str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def client(self, **kw) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.ports[0], **kw)

    def node(self, i: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.ports[i])

    def owner_of(self, key: str) -> int:
        """The index of the master that holds ``key``'s slot."""
        node = self.client().get_node_from_key(key)
        return self.ports.index(int(node.port))

    def restart(self, i: int, timeout: float = 30.0) -> None:
        """Stop master ``i`` (SIGTERM: it writes its AOF) and start it again on the same port,
        data dir and nodes.conf; back once the cluster reports ok again."""
        p = self.procs[i]
        p.terminate()
        p.wait(10)
        self.procs[i] = _spawn(self.args[i])
        wait_for_port(self.ports[i])
        self.wait_ok(timeout)

    def wait_ok(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                infos = [self.node(i).cluster("info") for i in range(len(self.ports))]
                if all(x["cluster_state"] == "ok" and int(x["cluster_known_nodes"]) == len(self.ports)
                       for x in infos):
                    return
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("cluster not ok")
            time.sleep(0.1)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def _spawn(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            process_group=0)


def start_redis_cluster(data_dir: Path, masters: int = 3, timeout: float = 30.0) -> ClusterService:
    server, cli = system_binary("redis-server"), system_binary("redis-cli")
    if server is None or cli is None:
        raise FileNotFoundError("redis-server/redis-cli not on PATH (apt-get install redis-server)")
    ports = [free_port() for _ in range(masters)]
    svc = ClusterService(ports)
    try:
        for port in ports:
            d = data_dir / str(port)
            d.mkdir(parents=True, exist_ok=True)
            svc.args.append([
                server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                "--cluster-port", str(free_port()), "--cluster-config-file", str(d / "nodes.conf"),
                "--cluster-node-timeout", "5000", "--dir", str(d), "--save", "",
                "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no",
                "--logfile", str(d / "redis.log")])
            svc.procs.append(_spawn(svc.args[-1]))
        for port in ports:
            wait_for_port(port)
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=timeout)
        svc.wait_ok(timeout)
        return svc
    except BaseException:
        svc.stop()
        raise
