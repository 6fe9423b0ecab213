"""Store leases: one writer per results store, held through a lease file with host, pid and heartbeat."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass

LEASE_SUFFIX = ".lease"
HEARTBEAT_S = 15.0
# A holder on another host is only known by its heartbeat; ten missed beats mean it is gone (or hung, in which
# case the fence stops its workers at their next checkpoint).
STALE_AFTER_S = 150.0


class LeaseHeld(Exception):
    """Another live process holds the lease of a store."""


class LeaseLost(RuntimeError):
    """The lease this writer was given no longer holds: another process broke it."""


def lease_path(store_path: str) -> str:
    """The lease file of a store: a sibling `<store>.lease`, so that replacing the store keeps the lease."""
    return str(store_path).rstrip("/") + LEASE_SUFFIX


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: host, process id, a token unique to this lease, start and last heartbeat (Unix s)."""

    host: str
    pid: int
    token: str
    started: float
    heartbeat: float
    command: str

    def describe(self, now: float) -> str:
        started = dt.datetime.fromtimestamp(self.started, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return (f"pid {self.pid} on host {self.host} (`{self.command}`, since {started}, "
                f"last heartbeat {now - self.heartbeat:.0f} s ago)")

    def stale_reason(self, now: float, stale_after: float) -> str | None:
        """Why this lease may be broken safely, or None while its holder may still be writing."""
        if self.host == socket.gethostname() and not _pid_alive(self.pid):
            return f"process {self.pid} no longer runs on this host"
        if now - self.heartbeat > stale_after:
            return f"no heartbeat for {now - self.heartbeat:.0f} s (more than {stale_after:.0f} s)"
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class _LeaseFile:
    """Reads and writes one lease file: atomically on a local or shared file system, through fsspec otherwise."""

    def __init__(self, path: str):
        self.path = path
        self.local = "://" not in path or path.startswith("file://")
        if self.local:
            self.path = path.removeprefix("file://")
        else:
            import fsspec

            self.fs, self.fs_path = fsspec.core.url_to_fs(path)

    @contextlib.contextmanager
    def guard(self):
        """Exclusive section for read-check-write: a flock on the lease's folder (local) or nothing (fsspec)."""
        if not self.local:
            yield
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def read(self) -> Holder | None:
        try:
            if self.local:
                with open(self.path, "rb") as f:
                    text = f.read()
            else:
                text = self.fs.cat_file(self.fs_path)
        except FileNotFoundError:
            return None
        try:
            return Holder(**json.loads(text))
        except (ValueError, TypeError):
            # A lease cut short by a crash mid-write holds no live writer's token; it reads as stale.
            return Holder("?", -1, "", 0.0, 0.0, "unreadable lease file")

    def write(self, holder: Holder) -> None:
        text = json.dumps(asdict(holder)).encode()
        if not self.local:
            self.fs.pipe_file(self.fs_path, text)
            return
        tmp = f"{self.path}.{holder.token}.tmp"
        with open(tmp, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.local:
                os.unlink(self.path)
            else:
                self.fs.rm_file(self.fs_path)


def live_writer(store_path: str, now: float | None = None, stale_after: float = STALE_AFTER_S) -> Holder | None:
    """The process writing a store now: its lease's holder, or None when no lease is held or it is stale."""
    now = time.time() if now is None else now
    holder = _LeaseFile(lease_path(store_path)).read()
    if holder is None or holder.stale_reason(now, stale_after) is not None:
        return None
    return holder


@dataclass(frozen=True)
class Fence:
    """Picklable proof of a lease, handed to every task: `check()` raises LeaseLost once the lease is gone,
    so a worker left over from a dead or hung client never writes after another client took the store."""

    path: str
    token: str

    def check(self) -> None:
        holder = _LeaseFile(self.path).read()
        if holder is None or holder.token != self.token:
            who = "nobody" if holder is None else f"pid {holder.pid} on host {holder.host}"
            raise LeaseLost(f"the lease {self.path} is no longer ours (now held by {who}); stopped before writing")


class StoreLease:
    """The one-writer lease of a results store, as a context manager with a heartbeat thread.

    Acquiring refuses (LeaseHeld, naming the holder) while another process holds a live lease. A stale lease,
    whose process is gone from this host or whose heartbeat stopped, is broken with a message, and any lease
    is broken with `break_lock`.
    """

    def __init__(self, store_path: str, break_lock: bool = False, stale_after: float = STALE_AFTER_S,
                 heartbeat: float = HEARTBEAT_S, echo=print):
        self.store_path, self.break_lock, self.echo = str(store_path), break_lock, echo
        self.stale_after, self.interval = stale_after, heartbeat
        self.file = _LeaseFile(lease_path(store_path))
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def fence(self) -> Fence:
        return Fence(lease_path(self.store_path), self.token)

    def __enter__(self) -> StoreLease:
        self.acquire()
        self._thread = threading.Thread(target=self._beat, name="store-lease-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.release()

    def acquire(self) -> None:
        now = time.time()
        me = Holder(socket.gethostname(), os.getpid(), self.token, now, now, " ".join(_command()))
        if self.file.local:
            os.makedirs(os.path.dirname(os.path.abspath(self.file.path)), exist_ok=True)
        with self.file.guard():
            holder = self.file.read()
            if holder is not None:
                reason = "--break-lock was given" if self.break_lock else holder.stale_reason(now, self.stale_after)
                if reason is None:
                    raise LeaseHeld(
                        f"the store {self.store_path} is being written by {holder.describe(now)}; wait for it "
                        f"to finish, or if that process is gone, rerun with --break-lock")
                self.echo(f"breaking the lease of {holder.describe(now)} on {self.store_path}: {reason}")
            self.file.write(me)

    def release(self) -> None:
        with self.file.guard():
            holder = self.file.read()
            if holder is not None and holder.token == self.token:
                self.file.remove()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with self.file.guard():
                holder = self.file.read()
                if holder is None or holder.token != self.token:
                    return  # broken by another process; our tasks' fences stop them
                self.file.write(Holder(**{**asdict(holder), "heartbeat": time.time()}))


def _command() -> list[str]:
    argv = list(sys.argv)
    if argv:
        argv[0] = os.path.basename(argv[0])
    return argv
