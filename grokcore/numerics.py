"""Settings of the engine's computations: denormal numbers flushed to zero on the CPU, float32 (no TF32) and
repeatable convolutions on a GPU, freed memory kept for reuse; which models' numbers are all finite."""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numba
import numpy as np
import torch

_state = threading.local()


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat denormal floats (|x| < 1.2e-38 in float32) as zero on this thread for the duration (CPU FTZ/DAZ).

    Why: after a few epochs, Adam's first moments and the gradients of idle weights decay into the denormal
    range, where every CPU operation on them is tens of times slower. Measured on mod-add (α = 0.1 and 10, one
    thread; benchmarks/denormal_speed.py), the epochs after the tenth ran 5-6× slower without this. Values that
    small change no result: an Adam update of a denormal moment is below 1e-30.

    The setting belongs to the calling thread (the x86 MXCSR register; threads it starts inherit it): torch's
    intra-op threads, already running, keep theirs, which is why the grid's workers train on one thread. Nested
    uses are allowed; the outermost restores torch's default (denormals kept) on exit.
    """
    outer = getattr(_state, "on", False)
    torch.set_flush_denormal(True)
    _state.on = True
    try:
        yield
    finally:
        if not outer:
            torch.set_flush_denormal(False)
            _state.on = False


# glibc's mallopt parameters (malloc.h) and the values kept: 32 MiB, glibc's own ceiling for its adapted mmap
# threshold and half a thread arena's heap, is accepted by every glibc version
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEPT_MMAP_THRESHOLD, KEPT_TRIM_THRESHOLD = 32 << 20, 1 << 30
# setting any of these (as MALLOC_<NAME>_ or a glibc.malloc tunable) stops glibc adapting its thresholds
MALLOC_THRESHOLDS = ("trim_threshold", "mmap_threshold", "top_pad", "mmap_max")


def malloc_configured(environ: Mapping[str, str]) -> bool:
    """Whether the environment `environ` sets glibc malloc's thresholds (a variable present, even empty, counts:
    glibc reads an empty one as 0)."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    return any(f"MALLOC_{name.upper()}_" in environ or f"glibc.malloc.{name}=" in tunables
               for name in MALLOC_THRESHOLDS)


@functools.cache
def keep_freed_memory() -> bool:
    """Have this process's C allocator keep freed memory for reuse instead of handing it back to the system;
    True where it now does (glibc, thresholds not set otherwise), False where nothing was changed.

    Why: a training step allocates and frees buffers of up to 5 MB (11 mod-add models: the lookup's activations,
    W_in's gradient). glibc's malloc maps such blocks fresh, or trims the freed top of its heap, by thresholds it
    adapts as it goes, and every page handed back is faulted in again, zeroed, at its next use: up to 52,000 page
    faults per mod-add epoch, for 20 epochs and more, and up to 10 % of its time (2026-12-05, Intel Xeon). With
    fixed thresholds (blocks under 32 MiB from the heap, and the heap trimmed only above 1 GiB free) a run
    faults in its memory once. The setting is for the whole process and stays (glibc cannot restore its adaptive
    thresholds): the process keeps up to 1 GiB of freed heap. It changes no number. (With another allocator
    preloaded, e.g. jemalloc, it sets glibc's unused one, to no effect.)

    A process whose thresholds were set already (`malloc_configured`) is left as it is: Dask's nanny starts its
    workers with MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's thresholds, and under it the same mod-add
    epochs faulted little (at most 4,000 times each) and ran as fast.
    """
    if platform.libc_ver()[0] != "glibc" or malloc_configured(os.environ):
        return False
    libc = ctypes.CDLL(None)  # the process's own symbols: glibc's mallopt
    if not libc.mallopt(M_MMAP_THRESHOLD, KEPT_MMAP_THRESHOLD):
        return False  # refused: a trim threshold alone would also freeze the mmap threshold where it is
    return bool(libc.mallopt(M_TRIM_THRESHOLD, KEPT_TRIM_THRESHOLD))


def deterministic_cuda() -> None:
    """Make cuDNN's convolutions on a GPU plain float32 and the same bits in every run, for this process.

    By default cuDNN may use algorithms that add in an order that changes from run to run (two GPU runs of the
    tiny Ising grid differed bit for bit, benchmarks/gpu_agreement.py on an H200, 2026-12-04), and rounds the
    convolutions' inputs to TF32 (10-bit mantissas), coarser than the CPU's float32. The Ising convolutions are
    small, so the deterministic choice costs little. Benchmark mode (off by default) would pick algorithms by
    timing them, run by run: kept off.
    """
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = False


def cpu_float32(*tensors: torch.Tensor) -> bool:
    """Whether all tensors are float32 on the CPU: what the numba kernels (Ising convolutions, two-hot lookup, SGLD
    move) take; other devices and dtypes go through PyTorch's operations."""
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


@numba.njit(cache=True, error_model="numpy")
def _all_finite(a, finite):
    """finite[m] = False where row m of a (model, size) holds an infinity or a NaN (v − v is NaN there, else 0)."""
    for m in range(a.shape[0]):
        bad = False
        for i in range(a.shape[1]):
            bad |= not (a[m, i] - a[m, i] == 0)
        if bad:
            finite[m] = False


def finite_rows(arrays: list[torch.Tensor]) -> torch.Tensor:
    """Which rows m hold only finite numbers in every array (model, size) of `arrays`: bool (model,), on their
    device. One pass over each: on the CPU a numba kernel for float32 rows (40 Ising models: 0.78 → 0.13 ms,
    against torch's aminmax), elsewhere each row's extremes (finite iff all its values are: NaN propagates)."""
    if len({a.shape[0] for a in arrays}) != 1:
        raise ValueError(f"arrays must have the same number of rows, got {[a.shape[0] for a in arrays]}")
    if all(cpu_float32(a) and a.is_contiguous() for a in arrays):
        finite = np.ones(arrays[0].shape[0], np.bool_)
        for a in arrays:
            _all_finite(a.detach().numpy(), finite)
        return torch.from_numpy(finite)
    extremes = [torch.aminmax(a.detach(), dim=1) for a in arrays]
    return torch.stack([torch.isfinite(low) & torch.isfinite(high) for low, high in extremes]).all(dim=0)
