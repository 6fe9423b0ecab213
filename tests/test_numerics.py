import os
import platform
import subprocess
import sys
import threading

import pytest
import torch

from grokcore.numerics import cpu_float32, deterministic_cuda, finite_rows, flush_denormals, malloc_configured

DENORMAL = 1e-40  # below float32's smallest normal number, 1.18e-38


def halved(value: float) -> float:
    return (torch.tensor([value], dtype=torch.float32) / 2).item()


def test_denormals_are_flushed_inside_and_kept_after():
    assert halved(DENORMAL) != 0
    with flush_denormals():
        assert halved(DENORMAL) == 0
        assert halved(1.0) == 0.5
    assert halved(DENORMAL) != 0


def test_a_nested_use_leaves_the_outer_one_on():
    with flush_denormals():
        with flush_denormals():
            pass
        assert halved(DENORMAL) == 0
    assert halved(DENORMAL) != 0


def test_an_exception_still_restores_the_default():
    with pytest.raises(RuntimeError), flush_denormals():
        raise RuntimeError("boom")
    assert halved(DENORMAL) != 0


def test_the_setting_belongs_to_the_calling_thread():
    """A thread that was already running (like torch's intra-op pool) keeps its own setting."""
    go, seen = threading.Event(), []
    other = threading.Thread(target=lambda: (go.wait(), seen.append(halved(DENORMAL))))
    other.start()
    with flush_denormals():
        go.set()
        other.join()
    assert seen[0] != 0


def test_deterministic_cuda_asks_cudnn_for_plain_float32_and_fixed_algorithms():
    backends = torch.backends.cudnn
    before = (backends.deterministic, backends.benchmark, backends.allow_tf32)
    try:
        backends.deterministic, backends.benchmark, backends.allow_tf32 = False, True, True
        deterministic_cuda()
        assert (backends.deterministic, backends.benchmark, backends.allow_tf32) == (True, False, False)
    finally:
        backends.deterministic, backends.benchmark, backends.allow_tf32 = before


@pytest.mark.parametrize(("tensors", "expected"), [
    ((torch.zeros(2), torch.ones(3, 1)), True),
    ((torch.zeros(2), torch.zeros(2, dtype=torch.float64)), False),
    ((torch.zeros(2, dtype=torch.int64),), False),
    ((torch.zeros(2), torch.zeros(2, device="meta")), False),
])
def test_cpu_float32_says_whether_the_numba_kernels_take_the_tensors(tensors, expected):
    assert cpu_float32(*tensors) is expected


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])  # float64: the torch path
def test_finite_rows_names_the_models_holding_an_infinity_or_a_nan(dtype):
    a = torch.tensor([[1.0, -0.0, 3e38], [1.0, float("nan"), 2.0], [1e-45, 0.0, -3e38], [0.0, 0.0, 0.0]], dtype=dtype)
    b = torch.tensor([[0.0], [0.0], [0.0], [float("-inf")]], dtype=dtype)
    assert finite_rows([a, b]).tolist() == [True, False, True, False]
    a[0, 2] = float("inf")
    assert finite_rows([a]).tolist() == [False, False, True, True]
    assert finite_rows([a[:, :2], b]).tolist() == [True, False, True, False]  # a strided view: the torch path


def test_finite_rows_refuses_arrays_of_different_row_counts():
    with pytest.raises(ValueError, match=r"same number of rows, got \[2, 3\]"):
        finite_rows([torch.zeros(2, 4), torch.zeros(3, 1)])


# glibc set to hand freed memory back at once (blocks over 128 KiB mapped, the heap trimmed above 64 KiB free), as
# Dask's workers are; then five 16 MiB blocks malloc'ed, filled and freed, five times over, after two such rounds:
# 80 MiB faulted in per round unless keep_freed_memory's thresholds replace both. Prints the page faults.
CHURN = """
import ctypes, resource, sys
from grokcore.numerics import keep_freed_memory
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
assert libc.mallopt(-3, 128 << 10) and libc.mallopt(-1, 64 << 10)  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
if sys.argv[1] == "kept":
    assert keep_freed_memory()
def churn():
    blocks = [libc.malloc(16 << 20) for _ in range(5)]
    for block in blocks:
        ctypes.memset(block, 1, 16 << 20)
    for block in blocks:
        libc.free(block)
churn(); churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
GLIBC = platform.libc_ver()[0] == "glibc"


def _run(script: str, *args: str, **env: str) -> str:
    """stdout of `script` run by this Python in a fresh process whose environment is this one's without malloc
    settings, plus `env`."""
    environ = {k: v for k, v in os.environ.items() if not malloc_configured({k: v})}
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env={**environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_kept_freed_memory_is_not_faulted_in_again():
    handed_back = int(_run(CHURN, "handed back"))
    if handed_back < 5 * 20480 // 2:  # half the faults of 4 KiB pages
        pytest.skip(f"{handed_back} page faults without the setting (huge pages?): nothing to save here")
    assert int(_run(CHURN, "kept")) < handed_back / 10


@pytest.mark.parametrize("environ, configured", [
    ({}, False), ({"MALLOC_TRIM_THRESHOLD_": "65536"}, True), ({"MALLOC_MMAP_THRESHOLD_": ""}, True),
    ({"MALLOC_TOP_PAD_": "0", "MALLOC_MMAP_MAX_": "0"}, True), ({"MALLOC_PERTURB_": "0"}, False),
    ({"GLIBC_TUNABLES": "glibc.malloc.top_pad=0"}, True),
    ({"GLIBC_TUNABLES": "glibc.malloc.perturb=0:glibc.malloc.mmap_max=0"}, True),
    ({"GLIBC_TUNABLES": "glibc.malloc.perturb=0"}, False)])
def test_malloc_configured_names_the_settings_that_fix_glibcs_thresholds(environ, configured):
    assert malloc_configured(environ) is configured


@pytest.mark.parametrize("env, kept", [({}, True), ({"MALLOC_TRIM_THRESHOLD_": "65536"}, False)])
def test_keep_freed_memory_leaves_a_configured_malloc_alone(env, kept):
    script = "from grokcore.numerics import keep_freed_memory; print(keep_freed_memory())"
    assert _run(script, **env) == str(kept and GLIBC)
