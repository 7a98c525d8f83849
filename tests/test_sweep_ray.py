"""The Ray backend on a real local Ray instance (`ray start --head` on loopback, then --address).

CI installs the `ray` extra and runs this; without Ray installed it is skipped (outside CI).
Every Ray these tests start must advertise and listen on loopback only (an unauthenticated Ray
on the network runs anyone's code): each test checks `ray.nodes()` and the listening TCP
sockets of every Ray process, and stops exactly the processes it started (not `ray stop`,
which kills every Ray on the machine).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import TINY
from typer.testing import CliRunner

from relubench.cli import app
from relubench.config import merge
from relubench.runner import ray as ray_backend

runner = CliRunner()

if shutil.which("ray") is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must install relubench[ray] to test the Ray backend")
    pytest.skip("Ray is not installed (pip install 'relubench[ray]')", allow_module_level=True)

ray = pytest.importorskip("ray")  # which also puts its own copy of psutil on sys.path
import psutil  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Keep every Ray process on loopback: Ray otherwise advertises the machine's network address and
# listens on all interfaces, and rewrites `--node-ip-address=127.0.0.1` to that address too; its
# single-machine switch (the macOS/Windows default) makes the node IP, and every bind, 127.0.0.1.
# The driver (this process) needs it as well, to reach 127.0.0.1. And state the auth mode on both
# sides: a test cluster on 127.0.0.1 needs no token.
RAY_ENV = {
    ray_backend.LOOPBACK_SWITCH: "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def started_by(marker: str) -> list[psutil.Process]:
    """The processes whose command line names `marker` (our temp dir), and all their children."""
    found: dict[int, psutil.Process] = {}
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in a for a in p.info["cmdline"] or ()):
                for q in [p, *p.children(recursive=True)]:
                    found[q.pid] = q
        except psutil.Error:
            pass
    return list(found.values())


def stop(procs: list[psutil.Process], marker: str | None = None) -> None:
    """Freeze, then kill these processes (and any child they spawned meanwhile)."""
    for p in procs:
        try:
            p.suspend()
        except psutil.Error:
            pass
    if marker:
        procs = started_by(marker)
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=20)


def running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def listening(procs: list[psutil.Process]) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every TCP socket these processes listen on."""
    out = []
    for p in procs:
        try:
            name = p.name()
            for c in p.net_connections(kind="tcp"):
                if c.status == psutil.CONN_LISTEN:
                    out.append((name, c.laddr.ip, c.laddr.port))
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture
def seen(monkeypatch):
    """Wrap the Ray backend's `execute`: while the cluster still runs (workers included), note
    ray.nodes() and the listening sockets of `seen["procs"]()` (set by the test)."""
    real = ray_backend.execute
    seen: dict = {}

    def execute(*args, **kwargs):
        outcome = real(*args, **kwargs)
        seen["nodes"] = [n["NodeManagerAddress"] for n in ray.nodes()]
        procs = seen["procs"]()
        seen["started"] = procs
        seen["sockets"] = listening(procs)
        return outcome

    monkeypatch.setattr(ray_backend, "execute", execute)
    return seen


def assert_loopback_only(seen: dict, *servers: str) -> None:
    assert seen["nodes"] and all(ip == "127.0.0.1" for ip in seen["nodes"]), seen["nodes"]
    names = {name for name, _, _ in seen["sockets"]}
    assert all(s in names for s in servers), seen["sockets"]  # the check saw the servers
    exposed = [s for s in seen["sockets"] if not ray_backend.is_loopback(s[1])]
    assert not exposed, f"Ray listens beyond loopback: {exposed}"


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A `ray start --head` on loopback: (address, its processes' command-line marker)."""
    ray_constants = ray._private.ray_constants
    port = free_port()
    tmp = tmp_path_factory.mktemp("ray")
    saved = {k: os.environ.get(k) for k in RAY_ENV}
    os.environ.update(RAY_ENV)  # for the in-process driver that `relubench sweep` starts
    # ... which reads the switch at `import ray`: if that came first, set what it read.
    saved_flag, ray_constants.ENABLE_RAY_CLUSTER = ray_constants.ENABLE_RAY_CLUSTER, False
    env = dict(os.environ)
    cmd = [
        "ray",
        "start",
        "--head",
        f"--port={port}",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--object-store-memory=100000000",
        f"--temp-dir={tmp}",
        "--disable-usage-stats",
    ]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Local node IP: 127.0.0.1" in r.stdout + r.stderr, r.stdout + r.stderr
        yield f"127.0.0.1:{port}", str(tmp)
    finally:
        if ray.is_initialized():  # no driver of this process may outlive the cluster
            ray.shutdown()
        stop(started_by(str(tmp)), str(tmp))
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert not started_by(str(tmp)), "a Ray process of the test cluster survived"


def metrics(folder: Path) -> list[dict]:
    with open(folder / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {k: v for k, v in r.items() if k not in ("epoch_seconds", "samples_per_s")} for r in rows
    ]


@pytest.mark.slow
def test_ray_sweep_matches_the_local_executor(tmp_path, ray_head, seen):
    ray_address, marker = ray_head
    seen["procs"] = lambda: [psutil.Process(), *started_by(marker)]  # the driver and the cluster
    spec = {"base": {**TINY, "epochs": 2, "threads": 1}, "grid": {"act": ["relu", "prelu"]}}
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump(spec))
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    r = runner.invoke(
        app, ["sweep", str(f), "--backend", "ray", "--address", ray_address, "--out", str(ray_out)]
    )
    assert r.exit_code == 0, r.output
    assert_loopback_only(seen, "gcs_server", "raylet")
    assert ("gcs_server", "127.0.0.1", int(ray_address.rpartition(":")[2])) in {
        (n, ip.removeprefix("::ffff:"), port) for n, ip, port in seen["sockets"]
    }
    r = runner.invoke(app, ["sweep", str(f), "--out", str(local_out)])
    assert r.exit_code == 0, r.output
    runs = sorted(p.name for p in ray_out.iterdir() if p.is_dir() and p.name[0] != ".")
    assert len(runs) == 2 and runs == sorted(p.name for p in local_out.iterdir() if p.is_dir())
    for run in runs:
        assert metrics(ray_out / run) == metrics(local_out / run)
        assert (ray_out / run / "layers.csv").read_text() == (
            local_out / run / "layers.csv"
        ).read_text()
        cfg = yaml.safe_load((ray_out / run / "config.yaml").read_text())
        assert cfg["out"] == str(ray_out)  # the worker's temp folder does not leak through
    # and again: everything is skipped, on the cluster too
    r = runner.invoke(
        app, ["sweep", str(f), "--backend", "ray", "--address", ray_address, "--out", str(ray_out)]
    )
    assert r.exit_code == 0 and "skipped: complete" in r.output


def test_unreachable_cluster_is_one_clear_line(tmp_path, monkeypatch):
    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump({"base": {**TINY, "out": str(tmp_path / "r")}}))
    r = runner.invoke(
        app, ["sweep", str(f), "--backend", "ray", "--address", f"127.0.0.1:{free_port()}"]
    )
    assert r.exit_code == 2 and "cannot reach a Ray cluster" in r.stderr


@pytest.mark.slow
def test_local_ray_is_loopback_only(tmp_path, monkeypatch, seen):
    """No --address: run_ray starts a Ray itself, and it too stays on 127.0.0.1."""
    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv(ray_backend.LOOPBACK_SWITCH)  # run_ray must set it itself
    constants = ray._private.ray_constants  # and what `import ray` read from it: as on Linux
    monkeypatch.setattr(constants, "ENABLE_RAY_CLUSTER", True)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    me = psutil.Process()
    seen["procs"] = lambda: [me, *me.children(recursive=True)]  # ray.init's Ray is ours
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump({"base": {**TINY, "epochs": 1, "out": str(tmp_path / "r")}}))
    try:
        r = runner.invoke(app, ["sweep", str(f), "--backend", "ray", "--cpus-per-run", "1"])
        assert r.exit_code == 0, r.output
        assert_loopback_only(seen, "gcs_server", "raylet")
        assert ray_backend.LOOPBACK_SWITCH not in os.environ  # not left in this process
        assert constants.ENABLE_RAY_CLUSTER is True
        assert len(list((tmp_path / "r").glob("*/summary.json"))) == 1
    finally:  # run_ray's ray.shutdown() stops them; make sure
        alive = [p for p in seen.get("started", ()) if p.pid != me.pid and running(p)]
        stop(alive)
    assert not alive, alive


def relubench_process(args: list[str]) -> subprocess.CompletedProcess:
    """`relubench ARGS` in a child process (this process's environment: the loopback switch)."""
    return subprocess.run(
        [sys.executable, "-m", "relubench", *args], capture_output=True, text=True, timeout=900
    )


def kill_task_when(
    run_dir: Path, marker: str, times: int, deadline: float = 600
) -> threading.Thread:
    """In the background, `times` times: once the run's current attempt has landed an epoch
    on the driver (the first: a checkpoint; the k-th retry: its k-th resume, which lands with
    that epoch), SIGKILL the Ray worker training it, as if its node died."""

    def landed() -> dict:
        try:
            return json.loads((run_dir / "summary.json").read_text())
        except (OSError, ValueError):
            return {}  # not yet, or being replaced this instant

    def training() -> list[psutil.Process]:
        found = []
        for p in started_by(marker):
            try:
                if "train_remote" in " ".join(p.cmdline()):
                    found.append(p)
            except psutil.NoSuchProcess:
                pass
        return found

    def kill() -> None:
        end = time.time() + deadline
        for k in range(times):
            while time.time() < end:
                summary, workers = landed(), training()
                ready = summary.get("epochs_done", 0) >= 1 and (run_dir / "checkpoint.pt").exists()
                if ready and len(summary.get("resumes", [])) >= k and workers:
                    break
                time.sleep(0.01)
            else:
                return  # never landed: leave the run alone, the test says why
            for p in workers:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass

    t = threading.Thread(target=kill, daemon=True)
    t.start()
    return t


@pytest.mark.slow
def test_a_run_lost_with_its_worker_resumes_from_its_streamed_checkpoint(tmp_path, ray_head):
    """Each epoch's files and checkpoint reach the driver as they are written: a run whose
    worker dies keeps them and resumes from them on another worker, in the same sweep up to
    RETRIES times, then in the next sweep; to the numbers of an uninterrupted run."""
    ray_address, marker = ray_head
    base = {**TINY, "act": "prelu", "epochs": 8, "train_size": 1024, "threads": 1}
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump({"base": base}))
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    run_dir = ray_out / merge(base).run_id
    sweep = ["sweep", str(f), "--backend", "ray", "--address", ray_address, "--out", str(ray_out)]
    killer = kill_task_when(run_dir, marker, times=ray_backend.RETRIES + 1)
    # the driver in a process of its own, as a user's: its Ray client threads end with it,
    # before the fixture stops the cluster under them
    r = relubench_process(sweep)
    killer.join()
    assert r.returncode == 1, r.stdout + r.stderr  # lost once more than it retries
    lost = json.loads((run_dir / "summary.json").read_text())
    assert lost["status"] == "interrupted" and lost["epochs_done"] < 8
    assert lost["error"] == (
        f"lost with its Ray worker or node {ray_backend.RETRIES + 1} times (WorkerCrashedError); "
        f"rerun the same command to resume it from epoch {lost['epochs_done']}"
    )
    said = " ".join(r.stdout.split())  # Rich wraps lines
    for k in range(1, ray_backend.RETRIES + 1):
        assert f"on another worker, retry {k} of {ray_backend.RETRIES})" in said, r.stdout
    assert f"interrupted {run_dir.name}" in said, r.stdout
    assert [e["from_epoch"] for e in lost["resumes"]] == sorted(
        {e["from_epoch"] for e in lost["resumes"]}
    )  # each retry went on from where the last left off
    assert len(lost["resumes"]) == ray_backend.RETRIES
    assert (run_dir / "checkpoint.pt").is_file()
    r = relubench_process(sweep)
    assert r.returncode == 0, r.stdout + r.stderr
    done = json.loads((run_dir / "summary.json").read_text())
    assert done["status"] == "complete" and len(done["resumes"]) == ray_backend.RETRIES + 1
    assert done["resumes"][-1]["from_epoch"] >= lost["epochs_done"]
    assert not (run_dir / "checkpoint.pt").exists()  # the task's final files replace them
    r = runner.invoke(app, ["sweep", str(f), "--out", str(local_out)])
    assert r.exit_code == 0, r.output
    assert metrics(run_dir) == metrics(local_out / run_dir.name)
    for name in ("layers.csv", "alphas.csv"):
        assert (run_dir / name).read_text() == (local_out / run_dir.name / name).read_text()


def test_a_lost_worker_or_node_is_retried_a_run_that_raised_is_not():
    rex = ray.exceptions
    assert ray_backend.lost(rex.WorkerCrashedError())
    assert ray_backend.lost(rex.NodeDiedError("node gone"))
    assert ray_backend.lost(rex.ObjectLostError("00" * 28, "owner", "call site"))
    assert not ray_backend.lost(rex.ObjectFreedError("00" * 28, "owner", "call site"))
    assert not ray_backend.lost(rex.LocalRayletDiedError())  # this machine's Ray is gone
    assert not ray_backend.lost(rex.RaySystemError("Ray has not been started"))
    raised = rex.RayTaskError("train_remote", "Traceback ...", ValueError("bad config"))
    assert not ray_backend.lost(raised)  # trying again would fail the same way
    assert not ray_backend.lost(rex.TaskCancelledError())  # Ctrl-C
    assert not ray_backend.lost(ValueError("not Ray's"))


class FakeTask:
    """Stands in for the Ray task: each `.remote()` plays the next script, its items and then,
    if given, the error that ends it (as Ray raises it from the stream)."""

    def __init__(self, *scripts: tuple[list[dict], BaseException | None]) -> None:
        self.scripts, self.calls = list(scripts), []

    def remote(self, cfg_dict: dict, threads: int, fresh: bool, files: dict) -> object:
        self.calls.append({"fresh": fresh, "files": sorted(files)})
        items, error = self.scripts.pop(0)

        def stream():
            yield from items
            if error is not None:
                raise error

        return stream()


class Said:
    """A SweepReporter that keeps what `retried` said."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def retried(self, cfg, why: str) -> None:
        self.lines.append(why)


def epoch(cfg, k: int, node: str, status: str = "running") -> dict:
    summary = {"status": status, "epochs_done": k, "config": cfg.written()}
    files = {"summary.json": json.dumps(summary).encode(), "config.yaml": b""}
    if status != "running":  # the task's last item
        return {"files": files, "node": node, "final": True, "summary": summary}
    return {"files": {**files, "checkpoint.pt": b"state"}, "node": node}


@pytest.fixture
def offline(monkeypatch):
    """No Ray: the stream's items are the values; ray.cancel calls are counted."""
    cancelled = []
    monkeypatch.setattr(ray, "get", lambda item: item)
    monkeypatch.setattr(ray, "cancel", lambda stream, force=False: cancelled.append(force))
    return cancelled


def submitted(cfg, task: FakeTask, reporter=None, restart: bool = False, stop: bool = False):
    stopped = threading.Event()
    if stop:
        stopped.set()
    run = ray_backend._Submission(task, cfg, 1, restart, reporter or Said(), stopped)
    run.start() if not stop else threading.Thread(target=run.drain, args=(task.remote(
        cfg.to_dict(), 1, False, {}),)).start()  # fmt: skip
    return run


def test_a_lost_task_resumes_elsewhere_and_summary_json_keeps_both_nodes(tmp_path, offline):
    cfg = merge({**TINY, "out": str(tmp_path)})
    said = Said()
    task = FakeTask(
        ([epoch(cfg, 1, "node-a")], ray.exceptions.NodeDiedError("node-a died")),
        ([epoch(cfg, 2, "node-b"), epoch(cfg, 2, "node-b", "complete")], None),
    )
    run = submitted(cfg, task, said)
    summary = ray_backend.land(cfg, run.fut.result(timeout=10))  # as the sweep does
    assert summary["status"] == "complete"
    assert task.calls == [
        {"fresh": False, "files": []},
        {"fresh": False, "files": ["checkpoint.pt", "config.yaml", "summary.json"]},  # resumes
    ]
    assert said.lines == [
        "lost with its Ray worker or node (NodeDiedError): from epoch 1 on another worker, "
        f"retry 1 of {ray_backend.RETRIES}"
    ]
    assert offline == [True]  # the lost task was stopped, lest it train on
    landed = json.loads((cfg.run_dir / "summary.json").read_text())
    assert landed["ray_node"] == "node-b" and landed["ray_nodes"] == ["node-a", "node-b"]
    assert landed["config"]["out"] == str(tmp_path) and landed["run_id"] == cfg.run_dir.name
    assert not (cfg.run_dir / "checkpoint.pt").exists()


def test_restart_holds_until_the_new_start_landed_an_epoch(tmp_path, offline):
    cfg = merge({**TINY, "out": str(tmp_path)})
    cfg.run_dir.mkdir(parents=True)
    old = {"status": "interrupted", "epochs_done": 3, "ray_nodes": ["old"], "config": cfg.written()}
    (cfg.run_dir / "summary.json").write_text(json.dumps(old))
    (cfg.run_dir / "checkpoint.pt").write_bytes(b"old state")
    said, crash = Said(), ray.exceptions.WorkerCrashedError
    task = FakeTask(
        ([], crash()),  # lost before it landed anything: the next start is fresh too
        ([epoch(cfg, 1, "node-a")], crash()),
        ([epoch(cfg, 2, "node-b"), epoch(cfg, 2, "node-b", "complete")], None),
    )
    run = submitted(cfg, task, said, restart=True)
    ray_backend.land(cfg, run.fut.result(timeout=10))
    assert [c["fresh"] for c in task.calls] == [True, True, False]
    assert said.lines[0].endswith("(WorkerCrashedError): from the start on another worker, "
                                  "retry 1 of 2")  # fmt: skip
    assert said.lines[1].endswith("from epoch 1 on another worker, retry 2 of 2")
    landed = json.loads((cfg.run_dir / "summary.json").read_text())
    assert landed["ray_nodes"] == ["node-a", "node-b"]  # the old start's node is not this run's


def test_a_task_lost_once_too_often_leaves_the_run_interrupted(tmp_path, offline):
    cfg = merge({**TINY, "out": str(tmp_path)})
    lost = [([epoch(cfg, k, f"node-{k}")], ray.exceptions.NodeDiedError("gone")) for k in (1, 2, 3)]
    run = submitted(cfg, FakeTask(*lost))
    summary = ray_backend.land(cfg, run.fut.result(timeout=10))
    kept = json.loads((cfg.run_dir / "summary.json").read_text())
    assert summary == {"status": "interrupted", "error": kept["error"]}  # what the sweep shows
    assert kept["status"] == "interrupted" and kept["epochs_done"] == 3
    assert kept["error"].endswith("rerun the same command to resume it from epoch 3")
    assert kept["ray_nodes"] == ["node-1", "node-2", "node-3"]


def test_a_run_that_raised_or_a_sweep_that_stopped_is_not_retried(tmp_path, offline):
    cfg = merge({**TINY, "out": str(tmp_path)})
    raised = ray.exceptions.RayTaskError("train_remote", "Traceback ...", ValueError("bad"))
    task = FakeTask(([epoch(cfg, 1, "node-a")], raised))
    run = submitted(cfg, task)
    assert isinstance(run.fut.exception(timeout=10), ray.exceptions.RayTaskError)
    assert len(task.calls) == 1 and offline == []
    died = ray.exceptions.NodeDiedError("gone")
    task = FakeTask(([], died))
    run = submitted(cfg, task, stop=True)  # Ctrl-C: the sweep is over
    assert run.fut.exception(timeout=10) is died and len(task.calls) == 1


def test_a_retry_that_cannot_start_never_leaves_the_sweep_waiting(tmp_path, offline):
    cfg = merge({**TINY, "out": str(tmp_path)})

    class Broken(Said):
        def retried(self, cfg, why: str) -> None:
            raise OSError("the terminal went away")

    task = FakeTask(([epoch(cfg, 1, "node-a")], ray.exceptions.NodeDiedError("gone")))
    run = submitted(cfg, task, Broken())
    assert isinstance(run.fut.exception(timeout=10), OSError)


def test_a_run_lost_once_too_often_says_how_to_go_on(tmp_path):
    cfg = merge({**TINY, "out": str(tmp_path)})
    error = ray.exceptions.NodeDiedError("node gone")
    assert ray_backend._interrupted(cfg, error) == {  # nothing landed: nothing to resume
        "status": "interrupted",
        "error": f"lost with its Ray worker or node {ray_backend.RETRIES + 1} times "
        "(NodeDiedError); rerun the same command to run it again",
    }
    cfg.run_dir.mkdir(parents=True)
    (cfg.run_dir / "config.yaml").write_text(ray_backend.to_yaml(cfg))
    (cfg.run_dir / "summary.json").write_text(json.dumps({"status": "running", "epochs_done": 3}))
    said = ray_backend._interrupted(cfg, error)
    assert said["error"].endswith("rerun the same command to resume it from epoch 3")
    kept = json.loads((cfg.run_dir / "summary.json").read_text())
    assert kept == {"status": "interrupted", "epochs_done": 3, "error": said["error"]}
    diverged = {"status": "diverged", "epochs_done": 3}  # an earlier sweep's end: redone anew
    (cfg.run_dir / "summary.json").write_text(json.dumps(diverged))
    said = ray_backend._interrupted(cfg, error)
    assert said["error"].endswith("rerun the same command to run it again")
    assert json.loads((cfg.run_dir / "summary.json").read_text()) == diverged  # not resumable


def test_a_cluster_that_answers_but_has_no_node_here_is_one_clear_line(monkeypatch):
    """`ray.init` from a machine that is not a node of the cluster fails (after a minute);
    the user is told where to run the sweep instead."""

    def init(**kwargs):
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379")

    monkeypatch.setattr(ray, "init", init)
    with pytest.raises(ray_backend.ConfigError) as e:
        ray_backend._connect(ray, "10.0.0.5:6379", local=False)
    assert str(e.value) == (
        "cannot join the Ray cluster at '10.0.0.5:6379' from this machine (Failed to connect to "
        "Ray cluster at 10.0.0.5:6379); run the sweep on its head, or on a machine that joined "
        "it (`ray start --address 10.0.0.5:6379`)"
    )


@pytest.mark.parametrize(
    "address", ["nonsense", "", ":6379", "127.0.0.1:", "127.0.0.1:99999", "ray://127.0.0.1:10001"]
)
def test_an_address_ray_cannot_use_is_one_clear_line(tmp_path, address):
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump({"base": TINY}))
    r = runner.invoke(app, ["sweep", str(f), "--backend", "ray", "--address", address])
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: --address ") and "127.0.0.1:6379" in line, line
    assert ("Ray Client" in line) == address.startswith("ray://")


def test_a_run_no_node_can_hold_is_refused_not_left_waiting():
    nodes = [
        {"Alive": True, "Resources": {"CPU": 2.0, "memory": 1e9}},
        {"Alive": False, "Resources": {"CPU": 8.0, "GPU": 1.0}},  # dead: holds nothing
        {"Alive": True, "Resources": {"CPU": 1.0, "GPU": 1.0}},
    ]
    ray_backend.check_fits(nodes, 2, 0)
    ray_backend.check_fits(nodes, 1, 0.5)  # a GPU shared by two runs
    with pytest.raises(ray_backend.ConfigError) as e:
        ray_backend.check_fits(nodes, 2, 1)  # 2 CPUs and a GPU: not on one node
    assert str(e.value) == (
        "no node of the Ray cluster has the 2 CPU(s) and 1 GPU(s) a run asks for (the most on "
        "one node: 2 CPUs, 1 GPUs); lower --cpus-per-run or --gpus-per-run, or add a node that "
        "has them"
    )
    with pytest.raises(ray_backend.ConfigError, match="the 5 CPU"):
        ray_backend.check_fits(nodes, 5, 0)
