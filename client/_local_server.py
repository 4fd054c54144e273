"""An embedded gradwire server in a child process, for `gw.connect()` without a target."""
from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

_READY = re.compile(r"^gradwire-server ready on (unix:\S+)\s*$")


class LocalServer:
    """Runs `python -m gradwire.service --unix DIR/gradwire.sock --processes 1` and reads its
    ready line. DIR is a fresh private directory (mode 0700, removed on stop): no other user can
    reach the socket, and no TCP port is opened. A unix socket also skips the TCP stack on every
    call (bench/transport.py measures what that saves)."""

    def __init__(self, startup_timeout: float = 120.0):
        # stderr goes to a file: it is read only to explain a failed start.
        self._log = tempfile.TemporaryFile(mode="w+b")
        self._dir = tempfile.mkdtemp(prefix="gradwire-")      # 0700, by mkdtemp's contract
        self.socket_path = os.path.join(self._dir, "gradwire.sock")
        # One process: the server's default is a worker per core (~165 MB each), too much for a
        # session's private server.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "gradwire.service", "--unix", self.socket_path, "--processes", "1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log)
        self.target = self._wait_ready(startup_timeout)
        # Keep draining stdout so a chatty server never blocks on a full pipe.
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        atexit.register(self.stop)

    def _wait_ready(self, timeout: float) -> str:
        result: list[str] = []
        reader = threading.Thread(target=self._read_ready, args=(result,), daemon=True)
        reader.start()
        reader.join(timeout)
        if result:
            return result[0]
        # The reader ends early only when stdout closed, i.e. the server exited.
        why = "exited before it was ready" if not reader.is_alive() else \
            f"did not report ready within {timeout:.0f}s"
        self.stop(keep_log=True)
        self._log.seek(0)
        tail = self._log.read()[-4000:].decode(errors="replace")
        self._log.close()
        hint = ("\nThe embedded server needs the server extra: pip install 'gradwire[server]' (or point the "
                "client at a running server: gw.connect(target) or GRADWIRE_TARGET=host:port)."
                if "No module named" in tail else "")
        raise RuntimeError(f"the embedded gradwire server {why} (exit code "
                           f"{self._proc.returncode}); its stderr ends with:\n{tail}{hint}")

    def _read_ready(self, result: list[str]) -> None:
        for raw in self._proc.stdout:
            match = _READY.match(raw.decode(errors="replace"))
            if match:
                result.append(match.group(1))
                return

    def _drain(self) -> None:
        for _ in self._proc.stdout:
            pass

    def stop(self, grace: float = 5.0, keep_log: bool = False) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            deadline = time.monotonic() + grace
            while self._proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
        # The server removes its socket when it drains; a killed one leaves it: the directory goes.
        shutil.rmtree(self._dir, ignore_errors=True)
        atexit.unregister(self.stop)
        # The pipe and the log file go with the process (left open, Python warns of them at exit).
        drainer = getattr(self, "_drainer", None)
        if drainer is not None:
            drainer.join(1.0)
        if self._proc.stdout is not None and (drainer is None or not drainer.is_alive()):
            self._proc.stdout.close()
        if not keep_log:
            self._log.close()

    @property
    def pid(self) -> int:
        return self._proc.pid
