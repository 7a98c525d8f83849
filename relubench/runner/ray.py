"""The Ray backend of `relubench sweep`: each run is a Ray task, the folder lands on the driver.

`pip install 'relubench[ray]'`. Each task trains in a temporary folder on whatever node Ray
picks; it is a streaming generator that sends the run folder's files after every epoch's
checkpoint, and the driver writes them under `--out` (summary.json last, every file
atomically), so workers need no shared filesystem. A run lost with its worker or node keeps
its last epoch's files and checkpoint on the driver, which sends them to another worker at
once (up to RETRIES times in one invocation; after that, the next invocation does): the run
resumes from that epoch. summary.json records the Ray node each run trained on (`ray_node`, and
`ray_nodes` when it moved).

Without `--address` the local Ray is held to loopback: on Linux Ray otherwise advertises the
machine's network address and its GCS, raylet and workers listen on every interface (`ray start
--node-ip-address=127.0.0.1` does not help: Ray rewrites a loopback address to the routable
one). Ray's own switch for a single-machine Ray, `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` (the
default on macOS/Windows), makes the node IP 127.0.0.1, and every server then binds to it.
"""

from __future__ import annotations

import ipaddress
import os
import queue
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from relubench.config import RunConfig, merge, to_yaml
from relubench.errors import ConfigError
from relubench.files import atomic_write
from relubench.runfolder import run_status
from relubench.runner.execute import execute, run_one
from relubench.runner.plan import Outcome, Plan
from relubench.runner.reporters import QuietReporter, SweepReporter


def _files(folder: Path) -> dict[str, bytes]:
    """A run folder's files (not the lock), name -> bytes; {} if there is no folder."""
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name[0] != "."}


class _Streamer(QuietReporter):
    """On a Ray worker: after each epoch's checkpoint, the run folder's files go to a queue."""

    def __init__(self, folder: Path, out: queue.Queue) -> None:
        self.folder, self.out = folder, out

    def saved(self, epoch: int) -> None:
        self.out.put({"files": _files(self.folder)})


def train_remote(
    cfg_dict: dict[str, Any], threads: int, restart: bool, files: dict[str, bytes]
) -> Iterator[dict[str, Any]]:
    """Runs on a Ray worker, as a streaming generator: trains into a temp folder (holding
    `files`, the run folder as the driver has it, so an unfinished run resumes from its
    checkpoint) and yields the folder's files after each epoch's checkpoint, then, last, the
    summary with the final files."""
    import ray
    import torch

    torch.set_num_threads(threads)
    node = ray.get_runtime_context().get_node_id()
    with tempfile.TemporaryDirectory(prefix="relubench-ray-") as tmp:
        cfg = merge({**cfg_dict, "out": tmp})
        folder = cfg.run_dir
        if files:
            folder.mkdir()
            for name, data in files.items():
                (folder / name).write_bytes(data)
        epochs: queue.Queue = queue.Queue()
        done: dict[str, Any] = {}

        def train() -> None:
            try:
                done["summary"] = run_one(cfg.to_dict(), restart, _Streamer(folder, epochs))
            finally:
                epochs.put(None)

        worker = threading.Thread(target=train, daemon=True)
        worker.start()
        while (item := epochs.get()) is not None:
            yield {**item, "node": node}
        worker.join()
        yield {"summary": done["summary"], "files": _files(folder), "final": True, "node": node}


def land(cfg: RunConfig, result: dict[str, Any]) -> dict[str, Any]:
    """Write a task's files (an epoch's, or its last) into the run folder on this machine,
    summary.json last; files the task no longer has (a checkpoint once it completed, the
    files of a run it redid from scratch) are removed."""
    if "files" not in result:  # lost, and not retried again: its folder says so already
        return result["summary"]
    folder = cfg.run_dir
    folder.mkdir(parents=True, exist_ok=True)
    files = dict(result["files"])
    summary_bytes = files.pop("summary.json", None)
    for name, data in sorted(files.items()):
        if name == "config.yaml":  # the worker's temp `out` is meaningless here
            data = to_yaml(cfg).encode()
        atomic_write(folder / name, data)
    for old in folder.iterdir():
        if old.name[0] != "." and old.name != "summary.json" and old.name not in files:
            old.unlink(missing_ok=True)
    if summary_bytes is not None:
        landed = _with_out(summary_bytes, cfg, result.get("node"))
        atomic_write(Path(folder) / "summary.json", landed)
    return result.get("summary") or {}


RETRIES = 2  # a run lost with its worker or node goes to another worker this many times


def lost(error: BaseException) -> bool:
    """Whether a task ended because Ray lost its worker or node (not because the run raised:
    that is a RayTaskError, and trying again would fail the same way)."""
    from ray import exceptions as rex

    return isinstance(error, rex.RayError) and not isinstance(
        error, (rex.RayTaskError, rex.TaskCancelledError)
    )


def _drain(
    stream: Any,
    cfg: RunConfig,
    fut: Future,
    again: Callable[[BaseException], None] | None = None,
) -> None:
    """The driver's side of a task: land each epoch's files as they come; the future gets
    the task's last item, or the error that ended it. A run lost with its worker or node
    keeps the files of its last epoch here: `again` sends them to another worker, where the
    run resumes from their checkpoint; without `again` (no retry left) the run is marked
    interrupted, for the next sweep to resume."""
    import ray

    try:
        for ref in stream:
            item = ray.get(ref)
            if item.get("final"):
                fut.set_result(item)
            else:
                land(cfg, item)
        if not fut.done():
            raise RuntimeError("the Ray task ended without its summary")
    except BaseException as e:  # noqa: BLE001 - handed to the sweep through the future
        if fut.done():
            return
        if not lost(e):
            fut.set_exception(e)
        elif again is not None:
            again(e)
        else:
            fut.set_result({"summary": _interrupted(cfg, e)})


def _interrupted(cfg: RunConfig, error: BaseException) -> dict[str, Any]:
    """A run lost once more than it is retried: its landed summary.json (if an epoch landed)
    says `interrupted` and how to go on; the summary the sweep reports."""
    import json

    path = cfg.run_dir / "summary.json"
    done = _epochs_done(path)
    how = f"resume it from epoch {done}" if done else "run it again"
    why = f"lost with its Ray worker or node {RETRIES + 1} times ({type(error).__name__})"
    summary = {"status": "interrupted", "error": f"{why}; rerun the same command to {how}"}
    if done:
        landed = json.loads(path.read_bytes())
        landed.update(summary)
        atomic_write(path, (json.dumps(landed, indent=2) + "\n").encode())
    return summary


def _epochs_done(path: Path) -> int:
    """The epochs a landed summary.json says are done (0 without one)."""
    import json

    try:
        return int(json.loads(path.read_bytes()).get("epochs_done") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def _with_out(summary_bytes: bytes, cfg: RunConfig, node: str | None = None) -> bytes:
    """The task's summary as this machine keeps it: its `out`, its run id, the Ray node that
    wrote it (`ray_node`) and every node the run trained on, in order (`ray_nodes`)."""
    import json

    summary = json.loads(summary_bytes)
    summary.setdefault("config", {})["out"] = cfg.out
    summary["run_id"] = cfg.run_dir.name  # the folder claimed here (a collision may lengthen it)
    if node is not None:
        nodes = _landed_nodes(cfg.run_dir / "summary.json")
        summary["ray_node"] = node
        summary["ray_nodes"] = nodes if nodes[-1:] == [node] else [*nodes, node]
    return (json.dumps(summary, indent=2) + "\n").encode()


def _landed_nodes(path: Path) -> list[str]:
    """The nodes a landed summary.json says its run trained on ([] without one)."""
    import json

    try:
        nodes = json.loads(path.read_bytes()).get("ray_nodes")
    except (OSError, ValueError, AttributeError):
        return []
    return [n for n in nodes if isinstance(n, str)] if isinstance(nodes, list) else []


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


def _connect(ray: Any, address: str | None, local: bool) -> None:
    """ray.init: a new local Ray on 127.0.0.1 (None or "local"), else the cluster at `address`."""
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


def _submitter(
    task: Any, threads: int, restart: bool, reporter: SweepReporter
) -> Callable[[RunConfig], Future]:
    """A run's submission: its task started, its files landed as they come, and, if Ray
    loses its worker or node, the task started again (RETRIES times) from what landed."""

    def submit(cfg: RunConfig) -> Future:
        fut: Future = Future()

        def start(left: int) -> None:
            # an unfinished run travels to its worker with its checkpoint, to resume there
            # (a lost one too: `again`); each cfg's own `device` stays as configured: with
            # GPUs per run, `auto` is CUDA
            unfinished = run_status(cfg.run_dir) in ("running", "interrupted")
            files = _files(cfg.run_dir) if unfinished else {}
            fresh = restart and left == RETRIES  # a retry resumes what the first landed
            stream = task.remote(cfg.to_dict(), threads, fresh, files)

            def again(error: BaseException) -> None:
                done = _epochs_done(cfg.run_dir / "summary.json")
                reporter.retried(
                    cfg,
                    f"lost with its Ray worker or node ({type(error).__name__}): "
                    f"{'from epoch ' + str(done) if done else 'from the start'} on another "
                    f"worker, retry {RETRIES - left + 1} of {RETRIES}",
                )
                start(left - 1)

            threading.Thread(target=_drain, args=(stream, cfg, fut, again if left else None),
                             daemon=True).start()  # fmt: skip

        start(RETRIES)
        return fut

    return submit


def run_ray(
    plan: Plan,
    jobs: int | None,
    reporter: SweepReporter,
    address: str | None,
    cpus: float,
    gpus: float,
    restart: bool = False,
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
    _connect(ray, address, local)
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

        submit = _submitter(task, threads, restart, reporter)
        # the run folders are written here (land), so this process holds their claims
        return execute(plan, submit, jobs, reporter, finish=land, claim_here=True)
    finally:
        ray.shutdown()
