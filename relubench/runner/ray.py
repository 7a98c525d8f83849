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
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from relubench.config import RunConfig, merge, short, to_yaml
from relubench.errors import ConfigError
from relubench.files import atomic_write
from relubench.runfolder import read_summary, run_status
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
        landed = _with_out(summary_bytes, cfg, result.get("nodes"))
        atomic_write(Path(folder) / "summary.json", landed)
    return result.get("summary") or {}


RETRIES = 2  # a run lost with its worker or node goes to another worker this many times


def lost(error: BaseException) -> bool:
    """Whether a task ended because Ray lost the worker or node running it, or the objects it
    sent: trying again elsewhere may succeed. Not when the run itself raised (a RayTaskError:
    it would fail the same way), nor for Ray's other errors (a full object store, a runtime
    environment, the driver's own raylet gone, ...)."""
    from ray import exceptions as rex

    if isinstance(error, (rex.ObjectFreedError, rex.ReferenceCountingAssertionError)):
        return False
    return isinstance(error, (rex.WorkerCrashedError, rex.NodeDiedError, rex.ObjectLostError))


class _Submission:
    """One run on Ray: its task, whose files land here as they come, and, when Ray loses its
    worker or node, the task started again from those files (its checkpoint), RETRIES times;
    then the run is marked interrupted, for the next sweep. `fut` is what the sweep waits on:
    the task's last item, or the error that ended it."""

    def __init__(
        self, task: Any, cfg: RunConfig, threads: int, restart: bool, reporter: SweepReporter,
        stopped: threading.Event,
    ) -> None:  # fmt: skip
        self.task, self.cfg, self.threads, self.restart = task, cfg, threads, restart
        self.reporter, self.stopped = reporter, stopped
        self.fut: Future = Future()
        self.left = RETRIES
        self.landed = False  # an epoch of this sweep's attempts reached the run folder
        self.nodes: list[str] = []  # the nodes the run trained on, in order

    def start(self) -> None:
        if self.stopped.is_set():  # the sweep is over (Ctrl-C): start nothing more
            raise RuntimeError("the sweep stopped")
        # an unfinished run travels to its worker with its checkpoint, to resume there;
        # `--restart` holds until this sweep landed an epoch of the new start. Each cfg's
        # own `device` stays as configured: with GPUs per run, `auto` is CUDA
        folder = self.cfg.run_dir
        unfinished = run_status(folder) in UNFINISHED
        fresh = self.restart and not self.landed
        if not self.landed:  # a resumed run goes on with the nodes it trained on
            self.nodes = _landed(folder, "ray_nodes", []) if self.resumes() else []
        files = _files(folder) if unfinished else {}
        stream = self.task.remote(self.cfg.to_dict(), self.threads, fresh, files)
        threading.Thread(target=self.drain, args=(stream,), daemon=True).start()

    def resumes(self) -> int:
        """The epoch a task started now resumes the run from (0: from the start)."""
        folder = self.cfg.run_dir
        if self.restart and not self.landed or run_status(folder) not in UNFINISHED:
            return 0
        return _landed(folder, "epochs_done", 0)

    def drain(self, stream: Any) -> None:
        """The driver's side of a task: land each epoch's files as they come."""
        import ray

        try:
            for ref in stream:
                item = ray.get(ref)
                if self.nodes[-1:] != [item["node"]]:
                    self.nodes.append(item["node"])
                item["nodes"] = list(self.nodes)
                if item.get("final"):
                    self.fut.set_result(item)
                elif not self.stopped.is_set():  # after the sweep, its claim is released
                    land(self.cfg, item)
                    self.landed = True
            if not self.fut.done():
                raise RuntimeError("the Ray task ended without its summary")
        except BaseException as e:  # noqa: BLE001 - handed to the sweep through the future
            self.ended(stream, e)

    def ended(self, stream: Any, error: BaseException) -> None:
        """The task ended without its summary: try again elsewhere, or say why in `fut`."""
        import ray

        if self.fut.done():
            return
        try:
            if not lost(error) or self.stopped.is_set():
                raise error
            if not self.left:
                self.fut.set_result({"summary": _interrupted(self.cfg, error)})
                return
            try:  # an object lost while the task still runs: stop it, or it trains twice
                ray.cancel(stream, force=True)
            except Exception:  # noqa: BLE001 - already gone, as a lost task usually is
                pass
            self.left -= 1
            done = self.resumes()
            retried = getattr(self.reporter, "retried", None)  # a reporter of before it
            if retried is not None:
                retried(
                    self.cfg,
                    f"lost with its Ray worker or node ({type(error).__name__}): "
                    f"{'from epoch ' + str(done) if done else 'from the start'} on another "
                    f"worker, retry {RETRIES - self.left} of {RETRIES}",
                )
            self.start()
        except BaseException as e:  # noqa: BLE001 - never leave the sweep waiting
            if not self.fut.done():
                self.fut.set_exception(e)


UNFINISHED = ("running", "interrupted")  # a run folder's statuses that resume


def _landed(folder: Path, key: str, default: Any) -> Any:
    """`key` of the run folder's summary.json if it is of `default`'s type, else `default`."""
    value = (read_summary(folder) or {}).get(key, default)
    return value if type(value) is type(default) else default


def _interrupted(cfg: RunConfig, error: BaseException) -> dict[str, Any]:
    """A run lost once more than it is retried: its summary.json, if it holds an unfinished
    run, says `interrupted` and how to go on; the summary the sweep reports."""
    import json

    path = cfg.run_dir / "summary.json"
    done = _landed(cfg.run_dir, "epochs_done", 0) if run_status(cfg.run_dir) in UNFINISHED else 0
    how = f"resume it from epoch {done}" if done else "run it again"
    why = f"lost with its Ray worker or node {RETRIES + 1} times ({type(error).__name__})"
    summary = {"status": "interrupted", "error": f"{why}; rerun the same command to {how}"}
    if done:
        landed = json.loads(path.read_bytes())
        landed.update(summary)
        atomic_write(path, (json.dumps(landed, indent=2) + "\n").encode())
    return summary


def _with_out(summary_bytes: bytes, cfg: RunConfig, nodes: list[str] | None = None) -> bytes:
    """The task's summary as this machine keeps it: its `out`, its run id, the Ray node that
    wrote it (`ray_node`) and every node the run trained on, in order (`ray_nodes`)."""
    import json

    summary = json.loads(summary_bytes)
    summary.setdefault("config", {})["out"] = cfg.out
    summary["run_id"] = cfg.run_dir.name  # the folder claimed here (a collision may lengthen it)
    if nodes:
        summary["ray_node"], summary["ray_nodes"] = nodes[-1], nodes
    return (json.dumps(summary, indent=2) + "\n").encode()


def check_address(address: str | None) -> None:
    """ConfigError for an --address Ray cannot use (Ray would answer with a traceback)."""
    if address in (None, "local", "auto"):
        return
    if "://" in address:
        raise ConfigError(
            f"--address {short(address)}: relubench runs the sweep as a Ray driver on a node "
            "of the cluster, not through Ray Client; run it on the head with --address "
            "HOST:PORT (e.g. 127.0.0.1:6379)"
        )
    host, sep, port = address.rpartition(":")
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        raise ConfigError(
            f"--address {short(address)}: expected HOST:PORT (e.g. 127.0.0.1:6379), auto (the "
            "cluster `ray start` made on this machine) or local (a new local Ray)"
        )


def check_fits(nodes: list[dict[str, Any]], cpus: float, gpus: float) -> None:
    """ConfigError when no live node of the cluster has the CPUs and GPUs a run asks for: Ray
    would wait for one forever, saying nothing."""
    have = [n.get("Resources") or {} for n in nodes if n.get("Alive")]
    if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in have):
        return
    most_cpus = max((r.get("CPU", 0) for r in have), default=0)
    most_gpus = max((r.get("GPU", 0) for r in have), default=0)
    raise ConfigError(
        f"no node of the Ray cluster has the {cpus:g} CPU(s) and {gpus:g} GPU(s) a run asks "
        f"for (the most on one node: {most_cpus:g} CPUs, {most_gpus:g} GPUs); lower "
        "--cpus-per-run or --gpus-per-run, or add a node that has them"
    )


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
    except (ConnectionError, RuntimeError) as e:
        if local and isinstance(e, RuntimeError):
            raise
        if address and ":" in address:  # it answered (`_reachable`): no node of it here
            raise ConfigError(
                f"cannot join the Ray cluster at {address!r} from this machine ({e}); run the "
                "sweep on its head, or on a machine that joined it "
                f"(`ray start --address {address}`)"
            ) from None
        raise ConfigError(
            f"cannot reach a Ray cluster at {address!r}: {e}; start one with "
            "`ray start --head`, or drop --address to use a local Ray"
        ) from None


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
    check_address(address)
    if address and not _reachable(address):  # ray.init would retry for minutes
        raise ConfigError(
            f"cannot reach a Ray cluster at {address!r}; start one with "
            "`ray start --head`, or drop --address to use a local Ray"
        )
    local = address in (None, "local")
    _connect(ray, address, local)
    stopped = threading.Event()  # set once the sweep is over: no task starts after it
    try:
        if local and not all(is_loopback(n["NodeManagerAddress"]) for n in ray.nodes()):
            raise ConfigError(f"the local Ray did not stay on 127.0.0.1; {HOW_INSTEAD}")
        check_fits(ray.nodes(), cpus, gpus)
        if jobs is None:  # as many runs at once as the cluster has room for
            res = ray.cluster_resources()
            slots = res.get("CPU", 1) / cpus
            if gpus:
                slots = min(slots, res.get("GPU", 0) / gpus)
            jobs = max(1, int(slots))
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(train_remote)
        threads = max(1, int(cpus))

        def submit(cfg: RunConfig) -> Future:
            run = _Submission(task, cfg, threads, restart, reporter, stopped)
            run.start()
            return run.fut

        # the run folders are written here (land), so this process holds their claims
        return execute(plan, submit, jobs, reporter, finish=land, claim_here=True)
    finally:
        stopped.set()
        ray.shutdown()
