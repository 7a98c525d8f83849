"""A real multi-node Ray cluster on this machine (benchmarks/ray_cluster.py --quick): a sweep
spread over two nodes, and a node lost mid-sweep.

The script runs the cluster inside a fresh network namespace, where loopback is the only
interface, and a PID namespace, so nothing it starts outlives it. Making them needs root:
elsewhere the test is skipped with the reason, but never in CI, where it must run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if shutil.which("ray") is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must install relubench[ray] to test the Ray backend")
    pytest.skip("Ray is not installed (pip install 'relubench[ray]')", allow_module_level=True)

ray = pytest.importorskip("ray")  # which also puts its own copy of psutil on sys.path
import psutil  # noqa: E402

from relubench.runner.ray import is_loopback  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> tuple[dict, str, str]:
    """The script's JSON report, its output and the table it recorded."""
    tmp = tmp_path_factory.mktemp("raycluster")
    report, results = tmp / "report.json", tmp / "RESULTS.md"
    env = {**os.environ, "RELUBENCH_RESULTS": str(results)}
    env.pop("RELUBENCH_IN_NETNS", None)  # the script makes its namespace itself
    cmd = [sys.executable, "-m", "benchmarks.ray_cluster", "--quick", "--report", str(report)]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    if r.returncode == 2 and not report.exists():  # no network namespace here: it says why
        why = r.stderr.strip().removeprefix("error: ")
        if os.environ.get("CI"):
            raise RuntimeError(f"CI must run the multi-node Ray test: {why}")
        pytest.skip(why)
    assert report.is_file(), r.stdout + r.stderr
    found = json.loads(report.read_text())
    # checked here, not only by the script: nothing it started outlives it
    left = [p for p in psutil.process_iter(["cmdline"]) if found["marker"] in " ".join(
        p.info["cmdline"] or ())]  # fmt: skip
    assert not left, f"Ray processes left behind: {[p.pid for p in left]}"
    assert r.returncode == 0, r.stdout + r.stderr
    return found, r.stdout, results.read_text()


@pytest.mark.slow
def test_two_nodes_on_loopback_only(cluster):
    report, _, _ = cluster
    assert report["interfaces"] == ["lo"]
    assert len(report["nodes"]) == 2 and all(n["alive"] for n in report["nodes"])
    assert {n["ip"] for n in report["nodes"]} == {"127.0.0.1"}
    names = {name for name, _ in report["listening"]}
    assert {"gcs_server", "raylet"} <= names, report["listening"]
    assert all(is_loopback(ip) for _, ip in report["listening"]), report["listening"]
    assert report["leftover"] == []


@pytest.mark.slow
def test_a_sweep_spreads_over_both_nodes_to_the_local_numbers(cluster):
    report, _, _ = cluster
    spread = report["spread"]
    ids = {n["id"] for n in report["nodes"]}
    assert spread["returncode"] == spread["local_returncode"] == 0
    assert len(spread["runs"]) == 4 and set(spread["runs"].values()) == ids  # every run placed
    assert spread["nodes_used"] == 2 and spread["equal_to_local"] is True


@pytest.mark.slow
def test_a_node_lost_mid_sweep_resumes_its_run_on_the_other(cluster):
    report, stdout, recorded = cluster
    loss, victim = report["loss"], report["victim"]
    survivor = ({n["id"] for n in report["nodes"]} - {victim}).pop()
    assert loss["returncode"] == 0  # the same invocation finished it
    assert loss["lost_run"] is not None and loss["killed_after_epoch"] >= 1
    assert loss["complete"] == loss["runs"] == 2
    assert loss["ray_nodes"] == [victim, survivor]  # it moved once, off the lost node
    assert victim not in report["alive_after"] and survivor in report["alive_after"]
    (resume,) = loss["resumes"]
    assert loss["killed_after_epoch"] <= resume["from_epoch"] < 3
    assert loss["equal_to_uninterrupted"] is True
    (said,) = loss["said"]  # the sweep's line when it moved the run
    assert said.startswith(f"resuming {loss['lost_run']} (lost with its Ray worker or node (")
    assert said.endswith(f"from epoch {resume['from_epoch']} on another worker, retry 1 of 2)")
    # the table the script printed is the one it recorded
    assert "| loss: killed after epoch / runs complete |" in stdout
    block = recorded.split("<!-- bench:ray_cluster -->\n", 1)[1]
    assert "    python -m benchmarks.ray_cluster --quick --report " in block  # as typed
    assert "| Ray processes left | 0 |" in block
