"""The locust load test keeps working: a short headless run against a real server.

`make load` is the full run (20 users, 30 s); this is a 10 s smoke version of the
same script (loadtest/run.sh), so that a change to the wire protocol or to the
server that breaks the load test shows up in `make test-slow`.
"""
from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def test_locust_headless_run_has_no_failures(tmp_path: Path) -> None:
    # Never import locust here: it monkey-patches threading, sockets and subprocess with gevent, which
    # breaks every gRPC server and thread of this pytest process for the tests that follow.
    assert importlib.util.find_spec("locust"), "locust is in the `load` extra: `make test-slow` installs it"
    env = dict(os.environ, PY=sys.executable, USERS="10", RATE="10", DURATION="10s", OUT=str(tmp_path))
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    env.pop("GRADWIRE_TOKEN", None)
    proc = subprocess.run(["bash", str(ROOT / "loadtest" / "run.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=360)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    with open(tmp_path / "locust_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    total = rows.pop("Aggregated")
    print("\n" + "\n".join(f"{name}: {r['Request Count']} calls, p50 {r['50%']} ms, p99 {r['99%']} ms"
                           for name, r in sorted(rows.items())))
    assert int(total["Failure Count"]) == 0, output[-5000:]
    assert int(total["Request Count"]) >= 100
    assert {"Evaluate", "Gradient", "Gradient (by hash)", "GetServerInfo"} <= set(rows), sorted(rows)
    assert not (tmp_path / "server.log").read_text().count("Traceback")
