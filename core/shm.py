"""POSIX shared-memory regions for same-host transfers: created 0600, named after both processes, swept when either dies."""
from __future__ import annotations

import collections
import math
import mmap
import os
import re
import secrets
import stat
import threading
import time
import weakref

import numpy as np

ROOT = "/dev/shm"
PREFIX = "gradwire-"
# gradwire-CREATORPID-PEERPID-RANDOMHEX; PEERPID 0: not yet known (the negotiation region).
NAME = re.compile(r"^gradwire-(\d+)-(\d+)-[0-9a-f]{16,64}$")


class RegionError(OSError):
    """A region that cannot be used: missing, not ours, wrong mode or size; the message says which."""


def available() -> bool:
    return os.path.isdir(ROOT) and os.access(ROOT, os.W_OK)


def new_name(peer_pid: int) -> str:
    return f"{PREFIX}{os.getpid()}-{peer_pid}-{secrets.token_hex(8)}"


def create(peer_pid: int, nbytes: int, populate: bool = False) -> tuple[str, mmap.mmap]:
    """A fresh region of nbytes, mode 0600 (O_EXCL: never someone else's file), mapped read-write.
    populate: allocate and map every page now, in one system call, instead of one fault per 4 KiB page
    on first touch (/dev/shm has no huge pages here)."""
    name = new_name(peer_pid)
    fd = os.open(os.path.join(ROOT, name), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.ftruncate(fd, max(nbytes, 1))
        flags = mmap.MAP_SHARED | (getattr(mmap, "MAP_POPULATE", 0) if populate else 0)
        return name, mmap.mmap(fd, max(nbytes, 1), flags=flags)
    except BaseException:
        unlink(name)
        raise
    finally:
        os.close(fd)


def write(peer_pid: int, array: np.ndarray) -> str:
    """A region holding the array's bytes (one copy, at memory speed); returns its name."""
    a = np.ascontiguousarray(array)
    name, m = create(peer_pid, a.nbytes)
    try:
        np.frombuffer(m, np.uint8, count=a.nbytes)[:] = a.reshape(-1).view(np.uint8)
    finally:
        m.close()
    return name


def open_region(name: str, nbytes: int, *, writable: bool = False, whole: bool = False) -> mmap.mmap:
    """Map a region another process of this user created. Refuses names outside the pattern (no path
    tricks), files of another owner or readable by others, and regions shorter than nbytes. whole: map
    all of the file (populated: its pages exist already), not just nbytes."""
    if not NAME.match(name):
        raise RegionError(f"region name {name[:80]!r} is not gradwire-PID-PID-HEX")
    try:
        fd = os.open(os.path.join(ROOT, name), (os.O_RDWR if writable else os.O_RDONLY) | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise RegionError(f"region {name} does not exist on this host") from None
    except OSError as e:
        raise RegionError(f"region {name} cannot be opened: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise RegionError(f"region {name} is not a private (0600) file of this user")
        if st.st_size < max(nbytes, 1):
            raise RegionError(f"region {name} holds {st.st_size} bytes, fewer than the {nbytes} named")
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        if whole:
            return mmap.mmap(fd, st.st_size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0), prot=prot)
        return mmap.mmap(fd, max(nbytes, 1), prot=prot)
    finally:
        os.close(fd)


def read(name: str, dtype, shape, nbytes: int) -> np.ndarray:
    """The array in a region, without a copy (read-only, backed by the mapping); the region's name is
    unlinked at once: the mapping keeps the memory until the array is gone."""
    m = open_region(name, nbytes)
    unlink(name)
    return np.frombuffer(m, dtype, count=nbytes // np.dtype(dtype).itemsize).reshape(shape)


def unlink(name: str) -> None:
    try:
        os.unlink(os.path.join(ROOT, name))
    except FileNotFoundError:
        pass


def alive(pid: int) -> bool:
    if pid == 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# A region younger than this is left alone even when its peer is gone: a request that a restarted worker
# process answers names the old worker's pid, and the new one maps it within milliseconds.
MIN_AGE = 3.0


def sweep(min_age: float = MIN_AGE) -> list[str]:
    """Remove regions whose creator or peer process is gone (a crash on either side), once they are
    min_age seconds old. Only this user's files can be removed, and only names of the pattern are looked at."""
    removed = []
    try:
        names = [n for n in os.listdir(ROOT) if n.startswith(PREFIX)]
    except OSError:
        return removed
    now = time.time()
    for name in names:
        m = NAME.match(name)
        if m and not (alive(int(m.group(1))) and alive(int(m.group(2)))):
            path = os.path.join(ROOT, name)
            try:
                if now - os.lstat(path).st_ctime >= min_age:
                    os.unlink(path)
                    removed.append(name)
            except OSError:
                pass
    return removed


class Sweeper:
    """One daemon thread per process that removes dead processes' regions every `period` seconds, and
    regions this process created that their reader never claimed within `stale` seconds."""
    _instance: "Sweeper | None" = None
    _lock = threading.Lock()

    def __init__(self, period: float, stale: float):
        self.period, self.stale = period, stale
        self._mine: dict[str, tuple[float, int]] = {}    # name -> (created at, bytes)
        self._mine_lock = threading.Lock()
        self.hooks: list = []      # called after each sweep (a server drops its mappings of swept regions)
        threading.Thread(target=self._run, name="gradwire-shm-sweeper", daemon=True).start()

    @classmethod
    def start(cls, period: float = 1.0, stale: float = 30.0) -> "Sweeper":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls(period, stale)
            return cls._instance

    def created(self, name: str, nbytes: int) -> None:
        with self._mine_lock:
            self._mine[name] = (time.monotonic(), nbytes)

    def outstanding_bytes(self) -> int:
        """Bytes of regions this process created that no reader has claimed (unlinked) yet."""
        with self._mine_lock:
            names = list(self._mine.items())
        return sum(n for name, (_, n) in names if os.path.exists(os.path.join(ROOT, name)))

    def _run(self) -> None:
        while True:
            time.sleep(self.period)
            sweep()
            for hook in list(self.hooks):
                hook()
            now = time.monotonic()
            with self._mine_lock:
                done = [n for n, (t, _) in self._mine.items()
                        if now - t > self.stale or not os.path.exists(os.path.join(ROOT, n))]
                for n in done:
                    del self._mine[n]
            for n in done:
                unlink(n)


class Region:
    __slots__ = ("name", "map", "size", "address")

    def __init__(self, name: str, m: mmap.mmap, size: int):
        self.name, self.map, self.size = name, m, size
        self.address = np.frombuffer(m, np.uint8, count=1).ctypes.data


class Pool:
    """This process's reusable regions for one peer (SharedRegion.keep): each created once, its pages
    faulted in once, then lent to one array at a time and back in the pool when that array and every view
    of it are gone. So a tensor sent again and again, or a result of the same size coming back, costs no
    page faults and no region set-up, only the one copy NumPy cannot avoid. Bounded: at most max_bytes in
    all (past it, lease() says no and the caller falls back), of which at most idle_bytes idle."""

    def __init__(self, peer_pid: int, max_bytes: int = 4 << 30, idle_bytes: int = 1 << 30):
        self.peer, self.max_bytes, self.idle_bytes = peer_pid, max_bytes, idle_bytes
        self.bytes = 0                             # all regions held, lent or idle
        self._idle: list[Region] = []              # smallest first
        self._by_address: dict[int, Region] = {}
        # Regions whose array died: finalizers run in any thread, at any allocation, so they only append here.
        self._returned: collections.deque[Region] = collections.deque()
        self._lock = threading.Lock()
        self.closed = False

    def lease(self, nbytes: int) -> Region | None:
        """An idle region holding nbytes (at most twice that), or a new one; None past the bound, after
        close(), or once the peer is gone (its regions are being swept)."""
        with self._lock:
            self._collect()
            if self.closed or not alive(self.peer):
                while self._idle:
                    self._drop(self._idle.pop())
                return None
            for k, r in enumerate(self._idle):
                if nbytes <= r.size <= 2 * nbytes:
                    del self._idle[k]
                    if os.path.exists(os.path.join(ROOT, r.name)):      # not swept under us
                        return r
                    self._drop(r)
                    break
            while self._idle and self.bytes + nbytes > self.max_bytes:
                self._drop(self._idle.pop())
            if self.bytes + nbytes > self.max_bytes:
                return None
            self.bytes += nbytes
        try:
            r = Region(*create(self.peer, nbytes, populate=True), nbytes)
        except BaseException:
            with self._lock:
                self.bytes -= nbytes
            raise
        with self._lock:
            self._by_address[r.address] = r
        return r

    def release(self, region: Region) -> None:
        """A leased region not given to an array (an offer the server did not use): idle again."""
        self._returned.append(region)

    def array(self, region: Region, dtype, shape) -> np.ndarray:
        """A writable array over the region's first bytes; the region is idle again once it is garbage."""
        root = np.frombuffer(region.map, dtype, count=math.prod(shape))
        weakref.finalize(root, self._returned.append, region)
        return root.reshape(shape)

    def region_of(self, a: np.ndarray) -> Region | None:
        """The region a's bytes are in, when a is C-contiguous and starts at one of ours (an array from
        array(), or a view of it): while a lives, its region is lent to it, so sending it needs no copy."""
        if not a.flags.c_contiguous:
            return None
        r = self._by_address.get(a.ctypes.data)
        return r if r is not None and a.nbytes <= r.size else None

    def close(self) -> None:
        """Unlink every region now; the memory goes when the last array over it (either side) is gone."""
        with self._lock:
            self.closed = True
            self._collect()
            for r in list(self._by_address.values()):
                unlink(r.name)
            while self._idle:
                self._drop(self._idle.pop())

    def _collect(self) -> None:
        while self._returned:
            r = self._returned.popleft()
            if self.closed or not os.path.exists(os.path.join(ROOT, r.name)):
                self._drop(r)
                continue
            self._idle.append(r)
            self._idle.sort(key=lambda x: x.size)
        idle = sum(r.size for r in self._idle)
        while idle > self.idle_bytes:
            r = self._idle.pop()
            idle -= r.size
            self._drop(r)

    def _drop(self, r: Region) -> None:
        unlink(r.name)
        self._by_address.pop(r.address, None)
        self.bytes -= r.size
        try:
            r.map.close()
        except BufferError:        # an array still maps it: the memory goes with that array
            pass
