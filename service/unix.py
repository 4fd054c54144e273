"""Unix domain socket listeners: a path only this user can connect to, refused when taken, removed on shutdown."""
from __future__ import annotations

import os
import socket
import stat
import threading

# os.umask is process-wide: hold it only around grpc's bind, and let one bind at a time change it.
_UMASK_LOCK = threading.Lock()


def unix_path(target: str) -> str | None:
    """The filesystem path of a `unix:PATH` or `unix://PATH` target (absolute form), else None."""
    if target.startswith("unix://"):
        return target[len("unix://"):]
    if target.startswith("unix:"):
        return target[len("unix:"):]
    return None


def check_free(path: str) -> None:
    """OSError when `path` cannot become our socket: a live server answers there, or it is not a
    socket (grpc would replace a stale socket file silently, and a live one too: check first)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OSError(f"could not bind unix:{path}: the path exists and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            return                   # a stale socket file from a process that died: grpc replaces it
        except OSError:
            return
    raise OSError(f"could not bind unix:{path}: another server is listening there")


def bind(add_port, path: str) -> int:
    """Add a `unix:` port (add_port: the server's add_insecure_port, or add_secure_port with its
    credentials bound) with the socket file created 0600: only this user may connect (connecting
    needs write permission on the file). Returns the file's inode, so that shutdown removes only
    the file this server created."""
    check_free(path)
    with _UMASK_LOCK:
        old = os.umask(0o177)
        try:
            bound = add_port(f"unix:{path}")
        finally:
            os.umask(old)
    if not bound:
        raise OSError(f"could not bind unix:{path}")
    os.chmod(path, 0o600)      # belt and braces: the mode must not depend on grpc honouring umask
    return os.lstat(path).st_ino


def remove(path: str, inode: int) -> None:
    """Unlink the socket file if it is still the one we bound (a successor may have replaced it)."""
    try:
        if os.lstat(path).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass
