"""The serving process keeps freed memory for reuse: a request's temporaries allocated again by the next
request fault no pages in."""
from __future__ import annotations

import json
import subprocess
import sys

PROGRAM = r"""
import json, resource, sys
import numpy as np
from gradwire.service.memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "on" else None
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):                       # warm: the first allocations fault in either way
    a = [np.ones(1 << 18, np.float32) for _ in range(8)]; del a
before = faults()
for _ in range(50):                      # eight 1 MiB temporaries per "request", freed at its end
    a = [np.ones(1 << 18, np.float32) for _ in range(8)]; del a
print(json.dumps({"applied": applied, "faults": faults() - before}))
"""


def _run(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(out.stdout)


def test_freed_temporaries_are_reused_without_page_faults():
    off, on = _run("off"), _run("on")
    assert on["applied"] is True
    # Eagerly returned to the kernel, each 1 MiB block faults its 256 pages in again: ~100 000 faults.
    assert off["faults"] > 20_000, off
    assert on["faults"] < 1_000, on
