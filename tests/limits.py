"""Running hostile input in a child process under a memory and time limit, so a regression
(an input read without bound) fails its test instead of taking the machine down."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

MB = 1 << 20


@dataclass
class Limited:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def lines(self) -> list[str]:
        return [ln for ln in (self.stdout + self.stderr).splitlines() if ln.strip()]


def run_limited(
    argv: Sequence[str],
    memory_mb: int = 1500,
    seconds: float = 60,
    cwd: str | None = None,
    stdin: str | None = None,
) -> Limited:
    """`python -m relubench ARGV` (or `python -c CODE` when argv[0] is "-c") in a child whose
    data segment (heap and private mappings: what an unbounded read grows) is capped at
    `memory_mb`, and which is
    killed after `seconds`."""

    def cap() -> None:
        limit = memory_mb * MB
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    cmd = (
        [sys.executable, *argv]
        if argv and argv[0] == "-c"
        else [sys.executable, "-m", "relubench", *argv]
    )
    try:
        r = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds, preexec_fn=cap, cwd=cwd,
            input=stdin, env=None,
        )  # fmt: skip
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or ""
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else e.stderr or ""
        return Limited(-9, out, err, True)
    return Limited(r.returncode, r.stdout, r.stderr, False)
