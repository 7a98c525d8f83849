"""A Ray cluster of several nodes on one machine: a sweep spread over them, and a node lost.

Runs inside a fresh network namespace (`unshare --net --pid ...`, as root; the script re-runs
itself there), where loopback is the only interface, so Ray's all-interface binds reach nothing
else; and in a PID namespace, so no process it starts outlives it. There it starts a head and
`--nodes` - 1 more nodes (`ray start`, one CPU each) and checks:

1. spread: a sweep of 4 short runs (`relubench sweep FILE --backend ray --address
   127.0.0.1:PORT`) places runs on more than one node (summary.json's `ray_node`), and every
   run's numbers equal the local executor's (metrics.csv but its timing columns, layers.csv,
   alphas.csv);
2. node loss: a sweep of longer runs, one per node; once the run on the last node has landed
   an epoch's checkpoint on the driver, that node's raylet and workers are SIGKILLed. The sweep
   must finish both runs in the same invocation, the lost one resumed from its streamed
   checkpoint on a surviving node, to the numbers of an uninterrupted run.

Every Ray process it started is stopped, and it checks that none is left. The table goes into
benchmarks/RESULTS.md; `--report FILE` also writes the raw findings as JSON (the test suite
reads them). The steps a user can follow by hand: docs/sweeps.md.

    python -m benchmarks.ray_cluster            # 2 nodes
    python -m benchmarks.ray_cluster --quick    # shorter runs
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness import arguments, record, table

IN_NETNS = "RELUBENCH_IN_NETNS"  # set when the script runs inside its network namespace
# a network namespace (loopback only) and a PID namespace: when the script ends, however it
# ends, the kernel kills every process it started there
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--"]
TIMING = ("epoch_seconds", "samples_per_s")
LOSS_ACTS = ["relu", "prelu", "elu", "selu", "leaky", "prelu-shared"]  # one run per node
RUN = {"dataset": "mnist-mini", "test_size": 256, "probe_size": 256, "batch_size": 64,
       "width": 8, "threads": 1, "device": "cpu"}  # fmt: skip
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",  # more than one node (on loopback, in the netns)
    "RAY_AUTH_MODE": "disabled",  # nothing outside the namespace can reach it
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_health_check_period_ms": "1000",  # a dead node is noticed in seconds, not ~30
    "RAY_health_check_failure_threshold": "3",
}


def cannot_isolate() -> str | None:
    """Why a network namespace cannot be made here (None: it can)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    r = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True)
    if r.returncode:
        how = " ".join(UNSHARE[:-1])
        return f"cannot make a network namespace ({how}: {r.stderr.strip()}; run as root)"
    return None


def _psutil() -> Any:
    """psutil, from Ray's own copy (`import ray` puts it on sys.path)."""
    import importlib

    import ray  # noqa: F401

    return importlib.import_module("psutil")


def ray_processes(marker: str) -> list[Any]:
    """The processes whose command line names `marker` (the cluster's temp dir), and all their
    children."""
    psutil = _psutil()
    found: dict[int, Any] = {}
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in a for a in p.info["cmdline"] or ()):
                for q in [p, *p.children(recursive=True)]:
                    found[q.pid] = q
        except psutil.Error:
            pass
    return list(found.values())


def kill(procs: list[Any]) -> None:
    """SIGKILL these processes and wait for them."""
    psutil = _psutil()
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=30)


def ray_start(args: list[str], env: dict[str, str]) -> None:
    r = subprocess.run(
        ["ray", "start", *args], capture_output=True, text=True, env=env, timeout=300
    )
    if r.returncode:
        raise RuntimeError(f"ray start {' '.join(args)} failed:\n{r.stdout}{r.stderr}")


def nodes(address: str, env: dict[str, str], cpus: int = 0) -> list[dict[str, Any]]:
    """ray.nodes() of the cluster, from a short-lived driver of its own, once the cluster's
    resources count `cpus` CPUs (a node that joined is alive before its CPUs are counted)."""
    code = f"""
import json, time, ray
ray.init(address={address!r}, logging_level="ERROR", log_to_driver=False)
start = time.time()
while ray.cluster_resources().get("CPU", 0) < {cpus} and time.time() - start < 60:
    time.sleep(0.2)
print(json.dumps([{{"id": n["NodeID"], "port": n["NodeManagerPort"], "alive": n["Alive"],
                   "ip": n["NodeManagerAddress"]}} for n in ray.nodes()]))
ray.shutdown()
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=300, check=True)  # fmt: skip
    return json.loads(r.stdout.strip().splitlines()[-1])


def raylets(marker: str) -> set[int]:
    """The pids of the cluster's raylets (one per node)."""
    return {p.pid for p in ray_processes(marker) if p.name() == "raylet"}


def node_processes(pids: set[int], marker: str) -> list[Any]:
    """A node's raylet (its pid: its node-manager port is chosen at start, 0 on its command
    line) and every process under it (its workers)."""
    found = [p for p in ray_processes(marker) if p.pid in pids]
    return [q for p in found for q in (p, *p.children(recursive=True))]


def node_of(pids: set[int], cluster_nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The node (of ray.nodes()) whose node manager is the raylet with one of these pids."""
    psutil = _psutil()
    ports = set()
    for pid in pids:
        try:
            ports |= {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp")
                      if c.status == psutil.CONN_LISTEN}  # fmt: skip
        except psutil.Error:
            pass
    found = [n for n in cluster_nodes if n["port"] in ports]
    if len(found) != 1:
        raise RuntimeError(f"cannot tell which node raylet {sorted(pids)} is: {cluster_nodes}")
    return found[0]


def rows(folder: Path, name: str) -> list[dict[str, str]]:
    if not (folder / name).is_file():
        return []
    with open(folder / name, newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def same_numbers(a: Path, b: Path) -> bool:
    """The two run folders hold the same numbers (timing columns aside)."""
    names = ("metrics.csv", "layers.csv", "alphas.csv")
    return bool(rows(a, "metrics.csv")) and all(rows(a, n) == rows(b, n) for n in names)


def sweep(spec: dict, out: Path, env: dict[str, str], address: str | None) -> subprocess.Popen:
    """`relubench sweep` of `spec` into `out`, on the cluster (address) or locally, started."""
    out.mkdir(parents=True, exist_ok=True)
    f = out.parent / f"{out.name}.yaml"
    f.write_text(yaml.safe_dump(spec))
    ray = ["--backend", "ray", "--address", address] if address else []
    cmd = [sys.executable, "-m", "relubench", "sweep", str(f), "--out", str(out), *ray]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)  # fmt: skip


def finish(proc: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        return -9, output + f"\n(killed after {timeout:g} s)"
    return proc.returncode, output


def summaries(out: Path) -> dict[str, dict]:
    found = {}
    for s in sorted(out.glob("*/summary.json")):
        try:
            found[s.parent.name] = json.loads(s.read_text())
        except (OSError, ValueError):
            pass  # being replaced this instant
    return found


def spread(tmp: Path, env: dict[str, str], address: str, epochs: int) -> dict[str, Any]:
    spec = {"base": {**RUN, "epochs": epochs, "train_size": 512},
            "grid": {"act": ["relu", "prelu", "elu", "selu"]}}  # fmt: skip
    t0 = time.perf_counter()
    code, output = finish(sweep(spec, tmp / "spread-ray", env, address))
    seconds = time.perf_counter() - t0
    local_code, _ = finish(sweep(spec, tmp / "spread-local", env, None))
    placed = {run: s.get("ray_node") for run, s in summaries(tmp / "spread-ray").items()}
    equal = all(same_numbers(tmp / "spread-ray" / r, tmp / "spread-local" / r) for r in placed)
    return {"returncode": code, "local_returncode": local_code, "runs": placed,
            "nodes_used": len({n for n in placed.values() if n}), "equal_to_local": equal,
            "seconds": seconds, "output": output[-3000:] if code else ""}  # fmt: skip


def lose_a_node(
    tmp: Path, env: dict[str, str], address: str, victim: dict, marker: str, epochs: int,
    nodes: int,
) -> dict[str, Any]:  # fmt: skip
    """The loss sweep: kill `victim` once its run has landed a checkpoint on the driver."""
    spec = {"base": {**RUN, "epochs": epochs, "train_size": 2048},
            "grid": {"act": LOSS_ACTS[:nodes]}}  # fmt: skip
    out = tmp / "loss-ray"
    proc, t0 = sweep(spec, out, env, address), time.perf_counter()
    lost, after = None, None
    while proc.poll() is None and lost is None and time.perf_counter() - t0 < 600:
        for run, s in summaries(out).items():
            if s.get("ray_node") == victim["id"] and (out / run / "checkpoint.pt").is_file():
                lost, after = run, s.get("epochs_done")
                kill(node_processes(victim["raylets"], marker))
                break
        time.sleep(0.05)
    code, output = finish(proc)
    seconds = time.perf_counter() - t0
    local_code, _ = finish(sweep(spec, tmp / "loss-local", env, None))
    done = summaries(out)
    lost_summary = done.get(lost or "", {})
    return {
        "returncode": code, "local_returncode": local_code, "lost_run": lost,
        "killed_after_epoch": after,
        "complete": sum(s.get("status") == "complete" for s in done.values()),
        "runs": len(done), "ray_nodes": lost_summary.get("ray_nodes", []),
        "resumes": lost_summary.get("resumes", []),
        "said": re.findall(r"resuming \S+ \(lost with .*? retry \d+ of \d+\)", " ".join(
            output.split())),
        "equal_to_uninterrupted": bool(lost)
        and same_numbers(out / lost, tmp / "loss-local" / lost),
        "seconds": seconds, "output": output[-3000:] if code else "",
    }  # fmt: skip


def cluster(args: Any) -> dict[str, Any]:
    """Inside the namespace: start the cluster, run both checks, stop every process."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        raise RuntimeError(f"not an isolated namespace: interfaces {interfaces}")
    tmp = Path(tempfile.mkdtemp(prefix="relubench-raycluster-"))
    marker = str(tmp)
    env = {**os.environ, **RAY_ENV}
    report: dict[str, Any] = {"marker": marker, "interfaces": interfaces}
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        address = f"127.0.0.1:{port}"
        common = ["--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats",
                  "--node-ip-address=127.0.0.1"]  # fmt: skip
        ray_start(["--head", f"--port={port}", "--include-dashboard=false",
                   f"--temp-dir={tmp / 'ray'}", *common], env)  # fmt: skip
        last: set[int] = set()
        for _ in range(args.nodes - 1):
            before = raylets(marker)
            ray_start([f"--address={address}", *common], env)
            last = raylets(marker) - before  # the last node's raylet
        report["nodes"] = nodes(address, env, cpus=args.nodes)
        report["spread"] = spread(tmp, env, address, args.epochs)
        # the last node to join (never the head): the node whose raylet is new, found by the
        # port its raylet listens on (ray.nodes() promises no order)
        victim = {**node_of(last, report["nodes"]), "raylets": last}
        report["loss"] = lose_a_node(tmp, env, address, victim, marker, 3 * args.epochs, args.nodes)
        report["victim"] = victim["id"]
        report["victim_raylets"] = sorted(last)
        report["alive_after"] = [n["id"] for n in nodes(address, env) if n["alive"]]
        psutil = _psutil()
        report["listening"] = sorted({
            (p.name(), c.laddr.ip) for p in ray_processes(marker) if p.is_running()
            for c in p.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN
        })  # fmt: skip
    finally:
        for _ in range(5):  # again, for any process started meanwhile
            if not ray_processes(marker):
                break
            kill(ray_processes(marker))
        report["leftover"] = [p.pid for p in ray_processes(marker)]
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def ok(report: dict[str, Any]) -> bool:
    s, lost = report.get("spread", {}), report.get("loss", {})
    return (
        len(report.get("nodes", [])) >= 2
        and s.get("returncode") == 0 and s.get("nodes_used", 0) >= 2 and s.get("equal_to_local")
        and lost.get("returncode") == 0 and lost.get("lost_run") is not None
        and lost.get("complete") == lost.get("runs") == len(report.get("nodes", []))
        and lost.get("equal_to_uninterrupted")
        and lost.get("ray_nodes", [None])[0] == report.get("victim")
        and len(set(lost.get("ray_nodes", []))) == 2 and bool(lost.get("resumes"))
        and report.get("leftover") == []
    )  # fmt: skip


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--nodes", type=int, default=2, help="nodes, the head included (2)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of a spread run (2)")
    parser.add_argument("--report", type=Path, help="also write the findings as JSON here")
    args = parser.parse(quick={"epochs": 1})
    if args.nodes < 2:
        parser.error("--nodes: at least 2")
    if args.nodes > len(LOSS_ACTS):
        parser.error(f"--nodes: at most {len(LOSS_ACTS)} (one loss run per node)")
    if os.environ.get(IN_NETNS) != "1":  # re-run inside a fresh network namespace
        why = cannot_isolate()
        if why:
            print(f"error: {why}", file=sys.stderr)
            return 2
        cmd = [*UNSHARE, sys.executable, "-m", "benchmarks.ray_cluster", *sys.argv[1:]]
        return subprocess.run(cmd, env={**os.environ, IN_NETNS: "1"}).returncode
    report = cluster(args)
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    s, lost = report.get("spread", {}), report.get("loss", {})
    lines = [
        f"A head and {args.nodes - 1} more node(s), one CPU each, in a network namespace "
        "(loopback only). Spread: 4 runs of "
        f"{args.epochs} epoch(s); loss: {args.nodes} runs (one per node) of {3 * args.epochs} "
        "epochs, the last node "
        "SIGKILLed (raylet and workers) once its run landed a checkpoint. Equal = metrics.csv "
        "(timing columns aside), layers.csv and alphas.csv.",
        "",
        *table(
            ("check", "result", "seconds"),
            [
                ("nodes alive at the start", len(report.get("nodes", [])), ""),
                (
                    "spread: nodes used / equal to local",
                    f"{s.get('nodes_used')} / {s.get('equal_to_local')}",
                    f"{s.get('seconds', 0):.1f}",
                ),
                (
                    "loss: killed after epoch / runs complete",
                    f"{lost.get('killed_after_epoch')} / "
                    f"{lost.get('complete')} of {lost.get('runs')}",
                    f"{lost.get('seconds', 0):.1f}",
                ),
                (
                    "loss: resumed from epoch / equal to uninterrupted",
                    f"{[r.get('from_epoch') for r in lost.get('resumes', [])]} / "
                    f"{lost.get('equal_to_uninterrupted')}",
                    "",
                ),
                (
                    "loss: the lost run's nodes (ray_nodes)",
                    " then ".join(n[:8] for n in lost.get("ray_nodes", [])),
                    "",
                ),
                ("Ray processes left", len(report.get("leftover", [])), ""),
            ],
        ),  # fmt: skip
        "",
        *(f"The sweep said: `{line}`" for line in lost.get("said", [])),
    ]
    print("\n".join(lines))
    for part in (s, lost):
        if part.get("output"):
            print(part["output"], file=sys.stderr)
    record(__file__, lines, quick=args.quick)
    return 0 if ok(report) else 1


if __name__ == "__main__":
    raise SystemExit(main())
