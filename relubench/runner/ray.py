"""The Ray backend of `relubench sweep`: each run is a Ray task, the folder lands on the driver.

`pip install 'relubench[ray]'`. Each task trains in a temporary folder on whatever node Ray
picks and returns the run folder's files; the driver writes them under `--out` (summary.json
last, every file atomically), so workers need no shared filesystem, and a worker that dies
mid-run leaves no `complete` folder: the next invocation simply redoes that run.

Without `--address` the local Ray is held to loopback: on Linux Ray otherwise advertises the
machine's network address and its GCS, raylet and workers listen on every interface (`ray start
--node-ip-address=127.0.0.1` does not help: Ray rewrites a loopback address to the routable
one). Ray's own switch for a single-machine Ray, `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` (the
default on macOS/Windows), makes the node IP 127.0.0.1, and every server then binds to it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from relubench.config import RunConfig, merge, to_yaml
from relubench.errors import ConfigError
from relubench.files import atomic_write
from relubench.runner.events import SweepReporter
from relubench.runner.sweep import Outcome, Plan, execute, run_one


def train_remote(cfg_dict: dict[str, Any], threads: int) -> dict[str, Any]:
    """Runs on a Ray worker: train into a temp folder, return its files and the summary."""
    import torch

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="relubench-ray-") as tmp:
        cfg = merge({**cfg_dict, "out": tmp})
        summary = run_one(cfg.to_dict())
        folder = cfg.run_dir  # gone if the run stopped before its first file (summary says)
        files = (
            {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
            if folder.is_dir()
            else {}
        )
    return {"summary": summary, "files": files}


def land(cfg: RunConfig, result: dict[str, Any]) -> dict[str, Any]:
    """Write a finished task's files into the run folder on this machine, summary.json last."""
    folder = cfg.run_dir
    folder.mkdir(parents=True, exist_ok=True)
    files = dict(result["files"])
    summary_bytes = files.pop("summary.json", None)
    for name, data in sorted(files.items()):
        if name.startswith("."):
            continue
        if name == "config.yaml":  # the worker's temp `out` is meaningless here
            data = to_yaml(cfg).encode()
        atomic_write(folder / name, data)
    if summary_bytes is not None:
        atomic_write(Path(folder) / "summary.json", _with_out(summary_bytes, cfg))
    return result["summary"]


def _with_out(summary_bytes: bytes, cfg: RunConfig) -> bytes:
    import json

    summary = json.loads(summary_bytes)
    summary.setdefault("config", {})["out"] = cfg.out
    summary["run_id"] = cfg.run_dir.name  # the folder claimed here (a collision may lengthen it)
    return (json.dumps(summary, indent=2) + "\n").encode()


def _reachable(address: str, timeout: float = 5.0) -> bool:
    """A TCP connect to `host:port` succeeds (other forms, e.g. `auto`, are left to Ray)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return True
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except OSError:
        return False


LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": a one-machine Ray on 127.0.0.1
HOW_INSTEAD = (
    f"start one yourself with `export {LOOPBACK_SWITCH}=0; ray start --head "
    "--include-dashboard=false` and pass --address auto from that shell"
)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ::ffff:127.x (how a dual-stack socket shows 127.0.0.1)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == "localhost"
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


@contextmanager
def _loopback_only() -> Iterator[None]:
    """While `ray.init` starts a local Ray: node IP 127.0.0.1 for it and the processes it spawns.

    The Ray processes inherit the switch from the environment; this process needs Ray's constant
    too, read once at `import ray`. Both are restored afterwards (the spawned processes keep it).
    """
    import ray

    try:
        from ray._private import ray_constants, services

        saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    except (ImportError, AttributeError):
        raise ConfigError(
            f"cannot hold a local Ray {ray.__version__} to 127.0.0.1; {HOW_INSTEAD}"
        ) from None
    saved_env = os.environ.get(LOOPBACK_SWITCH)
    os.environ[LOOPBACK_SWITCH] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ip = services.get_node_ip_address()
        if not is_loopback(ip):
            raise ConfigError(
                f"a local Ray {ray.__version__} would listen on {ip}, not 127.0.0.1; {HOW_INSTEAD}"
            )
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(LOOPBACK_SWITCH, None)
        else:
            os.environ[LOOPBACK_SWITCH] = saved_env


def run_ray(
    plan: Plan,
    jobs: int | None,
    reporter: SweepReporter,
    address: str | None,
    cpus: float,
    gpus: float,
) -> Outcome:
    """Run the plan as Ray tasks; `address` joins a running cluster, None starts a local Ray.

    The local Ray (None or `local`) is a new one, on 127.0.0.1 only, without the dashboard; a
    given address is used as it is.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray backend needs Ray: pip install 'relubench[ray]'") from None
    if cpus <= 0 or gpus < 0:
        raise ConfigError("--cpus-per-run must be > 0 and --gpus-per-run >= 0")
    if address and not _reachable(address):  # ray.init would retry for minutes
        raise ConfigError(
            f"cannot reach a Ray cluster at {address!r}; start one with "
            "`ray start --head`, or drop --address to use a local Ray"
        )
    local = address in (None, "local")
    init: dict[str, Any] = {
        "ignore_reinit_error": True,
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": "ERROR",
    }
    try:
        if local:  # "local": a new Ray even if RAY_ADDRESS or a `ray start` one is around
            with _loopback_only():
                ray.init(address="local", **init)
        else:
            ray.init(address=address, **init)
    except ConnectionError as e:
        raise ConfigError(
            f"cannot reach a Ray cluster at {address!r}: {e}; start one with "
            "`ray start --head`, or drop --address to use a local Ray"
        ) from None
    try:
        if local and not all(is_loopback(n["NodeManagerAddress"]) for n in ray.nodes()):
            raise ConfigError(f"the local Ray did not stay on 127.0.0.1; {HOW_INSTEAD}")
        if jobs is None:  # as many runs at once as the cluster has room for
            res = ray.cluster_resources()
            slots = res.get("CPU", 1) / cpus
            if gpus:
                slots = min(slots, res.get("GPU", 0) / gpus)
            jobs = max(1, int(slots))
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(train_remote)
        threads = max(1, int(cpus))
        # Each cfg's own `device` stays as configured: with GPUs per run, `auto` picks CUDA.
        submit = lambda c: task.remote(c.to_dict(), threads).future()  # noqa: E731
        # the run folders are written here (land), so this process holds their claims
        return execute(plan, submit, jobs, reporter, finish=land, claim_here=True)
    finally:
        ray.shutdown()
