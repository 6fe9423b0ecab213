"""Tests of store leases with real processes: refusal naming the holder, safe breaking of stale leases, fences."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

import pytest

from grokcore.lease import Fence, Holder, LeaseHeld, LeaseLost, StoreLease, lease_path, live_writer

HOLDER = """
import sys, time
from grokcore.lease import StoreLease
with StoreLease(sys.argv[1], heartbeat=0.1):
    print("held", flush=True)
    time.sleep(600)
"""


@contextmanager
def holding(store: str) -> Iterator[subprocess.Popen]:
    """A second process that takes the store's lease and keeps it until killed, at the latest on exit (its
    pipe closed and the process reaped, so that it leaves no ResourceWarning)."""
    with subprocess.Popen([sys.executable, "-c", HOLDER, store], stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout.readline().strip() == "held"
            yield process
        finally:
            process.kill()


def read_holder(store: str) -> Holder:
    with open(lease_path(store)) as f:
        return Holder(**json.load(f))


def write_holder(store: str, **fields) -> None:
    now = time.time()
    holder = Holder(**{"host": "elsewhere", "pid": 1, "token": "t", "started": now, "heartbeat": now,
                       "command": "repro run x", **fields})
    with open(lease_path(store), "w") as f:
        json.dump(asdict(holder), f)


def test_a_live_holder_is_named_and_keeps_the_lease(tmp_path):
    store = str(tmp_path / "s.zarr")
    with holding(store) as holder:
        with pytest.raises(LeaseHeld, match=f"being written by pid {holder.pid} on host {socket.gethostname()}"):
            StoreLease(store).acquire()
        assert read_holder(store).pid == holder.pid


def test_the_lease_of_a_killed_process_is_broken_and_released_after_use(tmp_path):
    store = str(tmp_path / "s.zarr")
    with holding(store) as holder:
        holder.kill()
        holder.wait()
    said = []
    with StoreLease(store, echo=said.append) as lease:
        assert f"process {holder.pid} no longer runs" in said[0]
        assert read_holder(store).pid == os.getpid()
        lease.fence.check()
    assert not os.path.exists(lease_path(store))


@pytest.mark.parametrize(("age", "break_lock", "taken"), [(1000, False, True), (0, False, False), (0, True, True)])
def test_a_remote_holder_is_judged_by_its_heartbeat(tmp_path, age, break_lock, taken):
    store = str(tmp_path / "s.zarr")
    write_holder(store, heartbeat=time.time() - age)
    lease = StoreLease(store, break_lock=break_lock, stale_after=60, echo=lambda *_: None)
    if taken:
        lease.acquire()
        assert read_holder(store).token == lease.token
    else:
        with pytest.raises(LeaseHeld, match="pid 1 on host elsewhere .*--break-lock"):
            lease.acquire()
        assert read_holder(store).token == "t"


def test_an_unreadable_lease_file_is_stale(tmp_path):
    store = str(tmp_path / "s.zarr")
    with open(lease_path(store), "w") as f:
        f.write('{"host": "a", "pi')
    with StoreLease(store, echo=lambda *_: None) as lease:
        assert read_holder(store).token == lease.token


def test_the_heartbeat_advances_while_held(tmp_path):
    store = str(tmp_path / "s.zarr")
    with StoreLease(store, heartbeat=0.05):
        first = read_holder(store).heartbeat
        deadline = time.time() + 30
        while read_holder(store).heartbeat == first and time.time() < deadline:
            time.sleep(0.05)
        assert read_holder(store).heartbeat > first


def test_a_broken_lease_fails_its_fence_and_is_not_released_by_its_old_holder(tmp_path):
    store = str(tmp_path / "s.zarr")
    with StoreLease(store) as first:
        second = StoreLease(store, break_lock=True, echo=lambda *_: None)
        second.acquire()
        with pytest.raises(LeaseLost, match=f"pid {os.getpid()}"):
            first.fence.check()
        second.fence.check()
    assert read_holder(store).token == second.token


def test_a_fence_without_a_lease_fails(tmp_path):
    with pytest.raises(LeaseLost, match="held by nobody"):
        Fence(lease_path(str(tmp_path / "s.zarr")), "token").check()


@pytest.mark.parametrize(("age", "live"), [(0, True), (1000, False)])
def test_live_writer_is_the_holder_of_a_lease_that_is_not_stale(tmp_path, age, live):
    store = str(tmp_path / "s.zarr")
    assert live_writer(store) is None
    write_holder(store, heartbeat=time.time() - age)
    assert (live_writer(store, stale_after=60) is not None) == live
