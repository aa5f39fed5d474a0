"""A throwaway Ray cluster on this machine's loopback: a head and worker nodes, stopped exactly.

For tests, benchmarks and trying the Ray engine on one machine. Each node is a ``ray start --block``
process started here, with its own temporary directory; stopping a node terminates that process
and every process under it (raylet, GCS, its workers), found by process id, never ``ray stop``
(which would stop every Ray node of every user on the machine).

    with LocalCluster(tmp_dir, nodes=2) as cluster:
        featurize(..., engine="ray", address=cluster.address)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["LocalCluster"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_cli() -> list[str]:
    exe = Path(sys.executable).with_name("ray")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from ray.scripts.scripts import main; sys.exit(main())"]


class LocalCluster:
    """A Ray head on 127.0.0.1 and ``nodes - 1`` workers joined to it, ``num_cpus`` CPUs each.

    Parameters
    ----------
    root : path
        A short folder (Ray's socket paths are limited to about 100 characters) receiving each
        node's temporary directory (``n0``, ``n1``, ...) and logs.
    nodes : int
    num_cpus : int
    """

    def __init__(self, root: str | os.PathLike, *, nodes: int = 2, num_cpus: int = 1) -> None:
        self.root = Path(root)
        self.n_nodes, self.num_cpus = nodes, num_cpus
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []

    def _start(self, k: int) -> subprocess.Popen:
        tmp = self.root / f"n{k}"
        tmp.mkdir(parents=True, exist_ok=True)
        args = [*_ray_cli(), "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", str(self.num_cpus),
                "--temp-dir", str(tmp), "--disable-usage-stats"]
        if k == 0:
            args += ["--head", "--port", str(self.port), "--include-dashboard", "false"]
        else:
            args += ["--address", self.address]
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        log = open(self.root / f"n{k}.log", "wb")  # noqa: SIM115 - the node outlives this call
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def start(self, *, timeout: float = 120.0) -> LocalCluster:
        """Start the nodes and wait until all are alive in the cluster."""
        self.procs.append(self._start(0))
        self._wait(1, timeout)
        for k in range(1, self.n_nodes):
            self.procs.append(self._start(k))
        self._wait(self.n_nodes, timeout)
        return self

    def _wait(self, n: int, timeout: float) -> None:
        """Until the GCS counts ``n`` nodes alive (one short-lived client polls it)."""
        code = ("import ray, sys, time\n"
                "t0 = time.monotonic()\n"
                "while True:\n"
                "    try:\n"
                "        ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); break\n"
                "    except Exception:\n"
                "        if time.monotonic() - t0 > float(sys.argv[3]): sys.exit(1)\n"
                "        time.sleep(1)\n"
                "while sum(1 for x in ray.nodes() if x['Alive']) < int(sys.argv[2]):\n"
                "    if time.monotonic() - t0 > float(sys.argv[3]): sys.exit(1)\n"
                "    time.sleep(0.5)\n")
        try:
            rc = subprocess.run([sys.executable, "-c", code, self.address, str(n), str(timeout)],
                                capture_output=True, timeout=timeout + 30).returncode
        except subprocess.TimeoutExpired:
            rc = 1
        if rc != 0 or any(p.poll() is not None for p in self.procs):
            raise RuntimeError(f"Ray cluster did not reach {n} live node(s) in {timeout:.0f} s; see {self.root}/n*.log")

    def node_pids(self, k: int) -> list[int]:
        """Process ids of node ``k``: its ``ray start`` process and everything under it."""
        import psutil

        try:
            top = psutil.Process(self.procs[k].pid)
            return [top.pid, *(c.pid for c in top.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def node_id(self, k: int) -> str | None:
        """Ray's id of node ``k``, read from its raylet's command line (``--node_id=...``)."""
        import psutil

        for pid in self.node_pids(k):
            try:
                for part in psutil.Process(pid).cmdline():
                    if part.startswith(("--node_id=", "--node-id=")):
                        return part.split("=", 1)[1]
            except psutil.NoSuchProcess:
                continue
        return None

    def kill_node(self, k: int, *, sig: str = "kill", timeout: float = 15.0) -> None:
        """Stop node ``k`` and every process under it (``sig`` "kill": at once, as a machine that dies)."""
        import psutil

        procs = []
        for pid in self.node_pids(k):
            try:
                procs.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        for p in procs:
            try:
                p.kill() if sig == "kill" else p.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=timeout)
        for p in alive:  # SIGTERM not heeded: as a machine that dies
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=timeout)
        self.procs[k].wait(timeout=timeout)

    def stop(self) -> None:
        """Stop every node started here (workers first), by process id."""
        import psutil

        for k in reversed(range(len(self.procs))):
            self.kill_node(k, sig="term", timeout=5.0)
        self.procs.clear()
        mark = str(self.root.resolve())
        for p in psutil.process_iter(["cmdline"]):  # anything of ours that left its tree (our own temp dirs)
            try:
                if any(mark + "/n" in part for part in p.info["cmdline"] or []):
                    p.kill()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
