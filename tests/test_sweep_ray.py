"""The Ray backend on a real local Ray instance (`ray start --head` on loopback, then --address).

CI installs the `ray` extra and runs this; without Ray installed it is skipped (outside CI).
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import TINY
from typer.testing import CliRunner

from relubench.cli import app

runner = CliRunner()

if shutil.which("ray") is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must install relubench[ray] to test the Ray backend")
    pytest.skip("Ray is not installed (pip install 'relubench[ray]')", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Keep every Ray process on loopback (Ray otherwise advertises the machine's network address)
# and state the auth mode on both sides: a test cluster on 127.0.0.1 needs no token.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
}


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    port = free_port()
    tmp = tmp_path_factory.mktemp("ray")
    saved = {k: os.environ.get(k) for k in RAY_ENV}
    os.environ.update(RAY_ENV)  # for the in-process driver that `relubench sweep` starts
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
    subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=180)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(["ray", "stop", "--force"], capture_output=True, env=env, timeout=120)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def metrics(folder: Path) -> list[dict]:
    with open(folder / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {k: v for k, v in r.items() if k not in ("epoch_seconds", "samples_per_s")} for r in rows
    ]


@pytest.mark.slow
def test_ray_sweep_matches_the_local_executor(tmp_path, ray_address):
    spec = {"base": {**TINY, "epochs": 2, "threads": 1}, "grid": {"act": ["relu", "prelu"]}}
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump(spec))
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    r = runner.invoke(
        app, ["sweep", str(f), "--backend", "ray", "--address", ray_address, "--out", str(ray_out)]
    )
    assert r.exit_code == 0, r.output
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
