"""Ising snapshots from single-spin Glauber Monte Carlo (paper App. B, spec §2.3); energy, magnetization."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

import numba
import numpy as np
import xarray as xr

from grokcore.seeds import RunSeeds

# Part of the cache key of stored data: bump it whenever the generator's output for given parameters changes.
GENERATOR_VERSION = "glauber-xoshiro256ss-splitmix64-v1"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_MASK32 = np.uint64(0xFFFFFFFF)
_TO_UNIT = 2.0**-53


def critical_temperature(J: float = 1.0) -> float:
    """Onsager's infinite-lattice T_c = 2J / ln(1 + √2) ≈ 2.2692 J (k_B = 1)."""
    return 2.0 * J / math.log(1.0 + math.sqrt(2.0))


CRITICAL_TEMPERATURE = critical_temperature(1.0)


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _default_temperatures() -> tuple[float, ...]:
    return tuple(float(t) for t in np.linspace(1.0, 3.5, 50))


@dataclass(frozen=True)
class IsingParams:
    """Parameters of the generated data set; defaults are the spec's guesses for stripped values (§2.3)."""

    L: int = 16
    J: float = 1.0
    temperatures: tuple[float, ...] = field(default_factory=_default_temperatures)
    n_per_temperature: int = 1000
    n_updates: int = 100_000
    seed: int = 0

    def __post_init__(self):
        for name, low in (("L", 2), ("n_per_temperature", 1), ("n_updates", 0), ("seed", 0)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(f"IsingParams.{name} must be an integer >= {low}, got {value!r}")
        if self.seed >= 2**64:
            raise ValueError(f"IsingParams.seed must be below 2**64, got {self.seed!r}")
        if not isinstance(self.J, int | float | np.number) or not math.isfinite(self.J) or self.J <= 0:
            raise ValueError(f"IsingParams.J must be a finite positive number, got {self.J!r}")
        try:
            temperatures = tuple(np.atleast_1d(np.asarray(self.temperatures, dtype=float)).ravel().tolist())
        except (TypeError, ValueError):
            temperatures = ()
        if not temperatures or any(not math.isfinite(t) or t <= 0 for t in temperatures):
            raise ValueError(
                f"IsingParams.temperatures must be a non-empty sequence of finite positive numbers, "
                f"got {self.temperatures!r}"
            )
        object.__setattr__(self, "temperatures", temperatures)
        for name in ("L", "n_per_temperature", "n_updates", "seed"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "J", float(self.J))

    @property
    def n_snapshots(self) -> int:
        return len(self.temperatures) * self.n_per_temperature

    def to_dict(self) -> dict:
        """JSON-serialisable parameters (temperatures as a list)."""
        return {
            "L": self.L,
            "J": self.J,
            "temperatures": list(self.temperatures),
            "n_per_temperature": self.n_per_temperature,
            "n_updates": self.n_updates,
            "seed": self.seed,
        }

    def chain_temperatures(self) -> np.ndarray:
        """Temperature of each chain, temperature-major, shape (snapshot,)."""
        return np.repeat(np.asarray(self.temperatures, dtype=np.float64), self.n_per_temperature)


@numba.njit(cache=True)
def glauber_flip_probability(dE, T):
    """Glauber (heat-bath) flip probability 1 / (1 + exp(ΔE/T)), k_B = 1 (spec §2.3 step 4)."""
    x = dE / T
    # Two branches so that neither exp overflows for large |ΔE/T|.
    if x > 0.0:
        e = math.exp(-x)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(x))


@numba.njit(cache=True)
def _aligned_neighbours(spins, i, j):
    """s_ij · Σ_nn s, an integer in {-4, -2, 0, 2, 4}, with periodic boundaries."""
    L = spins.shape[0]
    up = i - 1 if i > 0 else L - 1
    down = i + 1 if i < L - 1 else 0
    left = j - 1 if j > 0 else L - 1
    right = j + 1 if j < L - 1 else 0
    nn = np.int32(spins[up, j]) + spins[down, j] + spins[i, left] + spins[i, right]
    return np.int32(spins[i, j]) * nn


@numba.njit(cache=True)
def delta_energy(spins, i, j, J):
    """ΔE = 2J s_ij Σ_nn s of flipping spin (i, j) of an (L, L) ±1 lattice (spec §2.3 step 3)."""
    return 2.0 * J * _aligned_neighbours(spins, i, j)


@numba.njit(cache=True)
def _splitmix64(state):
    """One SplitMix64 step: (new state, output); used only to seed the chain generators."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return state, z ^ (z >> np.uint64(31))


@numba.njit(cache=True)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@numba.njit(cache=True)
def _xoshiro_next(s0, s1, s2, s3):
    """One xoshiro256** step: (output, new state words)."""
    out = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return out, s0, s1, s2, s3


@numba.njit(cache=True)
def _run_chain(spins, T, J, n_updates, seed, chain):
    """Hot start and `n_updates` random-site Glauber updates of one (L, L) int8 lattice, in place.

    The chain's xoshiro256** state comes from SplitMix64 of (seed, chain) alone, so a snapshot depends
    neither on the thread that runs it nor on the other chains."""
    state, key = _splitmix64(np.uint64(seed))
    state, s0 = _splitmix64(key ^ np.uint64(chain))
    state, s1 = _splitmix64(state)
    state, s2 = _splitmix64(state)
    state, s3 = _splitmix64(state)
    L = spins.shape[0]
    for i in range(L):
        for j in range(L):
            r, s0, s1, s2, s3 = _xoshiro_next(s0, s1, s2, s3)
            spins[i, j] = 1 if (r >> np.uint64(63)) == np.uint64(1) else -1
    # s·Σnn takes only five values, so flip probabilities are tabulated once per chain (index s·Σnn + 4).
    table = np.empty(9)
    for k in range(9):
        table[k] = glauber_flip_probability(2.0 * J * (k - 4), T)
    size = np.uint64(L)
    for _ in range(n_updates):
        r, s0, s1, s2, s3 = _xoshiro_next(s0, s1, s2, s3)
        # Two independent uniform coordinates from the two 32-bit halves (exact for power-of-two L, else
        # biased by at most L / 2**32).
        i = np.int64(((r >> np.uint64(32)) * size) >> np.uint64(32))
        j = np.int64(((r & _MASK32) * size) >> np.uint64(32))
        u, s0, s1, s2, s3 = _xoshiro_next(s0, s1, s2, s3)
        if np.float64(u >> np.uint64(11)) * _TO_UNIT < table[_aligned_neighbours(spins, i, j) + 4]:
            spins[i, j] = -spins[i, j]


@numba.njit(cache=True, parallel=True)
def _run_chains(out, temperatures, J, n_updates, seed, first_chain):
    """Fill out[k] (snapshot, L, L) with chain first_chain + k at temperatures[k], chains in parallel."""
    for k in numba.prange(out.shape[0]):
        _run_chain(out[k], temperatures[k], J, n_updates, seed, first_chain + k)


def ising_energy(spins: np.ndarray, J: float = 1.0) -> np.ndarray:
    """Eq. 1, E = -J Σ_<ij> s_i s_j, each bond once (right and down neighbours, periodic).

    spins (..., L, L) of ±1 -> (...,) float64."""
    spins = _check_lattices(spins).astype(np.int32)
    bonds = spins * (np.roll(spins, -1, axis=-1) + np.roll(spins, -1, axis=-2))
    return -J * bonds.sum(axis=(-2, -1)).astype(np.float64)


def magnetization(spins: np.ndarray) -> np.ndarray:
    """Eq. 2, M = Σ_i s_i; spins (..., L, L) -> (...,) int64."""
    return _check_lattices(spins).sum(axis=(-2, -1), dtype=np.int64)


def _check_lattices(spins) -> np.ndarray:
    spins = np.asarray(spins)
    if spins.ndim < 2 or spins.shape[-1] != spins.shape[-2]:
        raise ValueError(f"spins must have shape (..., L, L), got {spins.shape}")
    return spins


def content_hash(spins: np.ndarray, temperature: np.ndarray) -> str:
    """sha256 of the C-order bytes of spins (int8) followed by temperature (float64)."""
    digest = hashlib.sha256(np.ascontiguousarray(spins, dtype=np.int8).tobytes())
    digest.update(np.ascontiguousarray(temperature, dtype=np.float64).tobytes())
    return digest.hexdigest()


def simulate_snapshots(params: IsingParams, threads: int | None = None, progress: bool = False) -> np.ndarray:
    """Run every chain of `params`: (snapshot, L, L) int8, snapshot k = chain k, temperature-major.

    Bit-identical for any `threads` (numba threads; None keeps numba's current setting)."""
    if threads is not None and (not _is_int(threads) or not 1 <= threads <= numba.config.NUMBA_NUM_THREADS):
        limit = numba.config.NUMBA_NUM_THREADS
        raise ValueError(f"threads must be an integer in 1..{limit}, got {threads!r}")
    temperatures = params.chain_temperatures()
    out = np.empty((params.n_snapshots, params.L, params.L), dtype=np.int8)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads or previous)
    n_temperatures = len(params.temperatures)
    try:
        # One call per temperature so that progress can be reported; chains are seeded by global index.
        for t in range(n_temperatures):
            block = slice(t * params.n_per_temperature, (t + 1) * params.n_per_temperature)
            _run_chains(out[block], temperatures[block], params.J, params.n_updates, params.seed, block.start)
            if progress and ((t + 1) % max(1, n_temperatures // 10) == 0 or t + 1 == n_temperatures):
                print(f"  Ising: {t + 1}/{n_temperatures} temperatures done", flush=True)
    finally:
        numba.set_num_threads(previous)
    return out


def ising_dataset(spins: np.ndarray, temperature: np.ndarray, J: float, attrs: dict) -> xr.Dataset:
    """The data-set layout shared by generated and imported data: spins (snapshot, y, x) int8 and per-snapshot
    temperature, phase (int8, 1 = ordered, T < T_c), energy (Eq. 1) and magnetization (Eq. 2)."""
    spins = np.ascontiguousarray(spins, dtype=np.int8)
    temperature = np.asarray(temperature, dtype=np.float64)
    data_vars = {
        "spins": (("snapshot", "y", "x"), spins),
        "temperature": ("snapshot", temperature),
        "phase": ("snapshot", (temperature < critical_temperature(J)).astype(np.int8)),
        "energy": ("snapshot", ising_energy(spins, J)),
        "magnetization": ("snapshot", magnetization(spins)),
    }
    full_attrs = {**attrs, "J": J, "critical_temperature": critical_temperature(J)}
    full_attrs["content_hash"] = content_hash(spins, temperature)
    return xr.Dataset(data_vars, coords={"snapshot": np.arange(len(spins))}, attrs=full_attrs)


def generate_ising(params: IsingParams, threads: int | None = None, progress: bool = False) -> xr.Dataset:
    """Generate the Ising data set of `params` (spec §2.3); attrs hold the parameters and a content hash."""
    spins = simulate_snapshots(params, threads, progress)
    attrs = {**params.to_dict(), "source": "glauber-monte-carlo", "generator": GENERATOR_VERSION}
    return ising_dataset(spins, params.chain_temperatures(), params.J, attrs)


def ising_split(
    data: int | xr.Dataset,
    data_seed: int,
    n_test: int = 1000,
    n_train: int = 300,
    stratified: bool = False,
    phase: np.ndarray | None = None,
    shuffle: str = "seeded",
) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, test_idx) into the snapshots for `data_seed` (spec §2.2).

    `data` is a snapshot count or an Ising data set. The snapshots are permuted, test = the first n_test,
    train = the next n_train. shuffle="seeded" permutes with the data stream of RunSeeds.from_seed(data_seed);
    shuffle="authors" repeats the authors' random.seed(data_seed); random.shuffle(...), which reproduces their
    split exactly on their pickle in file order. With stratified=True the train set is the first n_train/2
    ordered and the first n_train/2 disordered non-test snapshots of the permutation (paper: "equally
    divided"); `phase` (snapshot,) defaults to the data set's phase."""
    if isinstance(data, xr.Dataset):
        if phase is None:
            phase = data["phase"].values
        data = data.sizes["snapshot"]
    for name, value, low in (("n_snapshots", data, 1), ("n_test", n_test, 0), ("n_train", n_train, 1)):
        if not _is_int(value) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not _is_int(data_seed) or data_seed < 0:
        raise ValueError(f"data_seed must be a non-negative integer, got {data_seed!r}")
    if n_test + n_train > data:
        raise ValueError(f"n_test + n_train = {n_test + n_train} exceeds the {data} snapshots")
    order = _permutation(data, data_seed, shuffle)
    test, rest = order[:n_test], order[n_test:]
    if not stratified:
        return rest[:n_train], test
    return _stratified_train(rest, n_train, phase, data), test


def _permutation(n: int, data_seed: int, shuffle: str) -> np.ndarray:
    if shuffle == "seeded":
        return RunSeeds.from_seed(data_seed).numpy("data").permutation(n)
    if shuffle == "authors":
        # random.seed(k) seeds the module's hidden Random instance exactly as Random(k) does.
        order = list(range(n))
        random.Random(data_seed).shuffle(order)
        return np.array(order, dtype=np.int64)
    raise ValueError(f"shuffle must be 'seeded' or 'authors', got {shuffle!r}")


def _stratified_train(candidates: np.ndarray, n_train: int, phase, n_snapshots: int) -> np.ndarray:
    if n_train % 2:
        raise ValueError(f"a stratified split needs an even n_train, got {n_train}")
    if phase is None:
        raise ValueError("a stratified split needs the phase labels: pass a data set or phase=")
    phase = np.asarray(phase)
    if phase.shape != (n_snapshots,):
        raise ValueError(f"phase must have shape ({n_snapshots},), got {phase.shape}")
    ordered = phase[candidates] == 1
    picked = []
    for mask, name in ((ordered, "ordered"), (~ordered, "disordered")):
        if mask.sum() < n_train // 2:
            raise ValueError(f"only {mask.sum()} {name} snapshots outside the test set, need {n_train // 2}")
        picked.append(np.flatnonzero(mask)[: n_train // 2])
    # Keep the permutation's order so the train set interleaves the two phases.
    return candidates[np.sort(np.concatenate(picked))]
