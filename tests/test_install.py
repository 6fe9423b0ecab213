"""Tests of the install (no network): the hashed locks, the Makefile's torch build and the Dockerfile agree."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MAKEFILE = (ROOT / "Makefile").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()
VARIANTS = sorted(p.name.removeprefix("requirements-torch-").removesuffix(".lock")
                  for p in ROOT.glob("requirements-torch-*.lock"))


def requirements(text: str) -> dict[str, list[tuple[str, str, list[str]]]]:
    """{name: [(version, marker, sha256 hashes)]} of a hashed requirements file, continuation lines joined."""
    found: dict[str, list] = {}
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, _, rest = line.partition(" --hash")
        requirement, _, marker = spec.partition(";")
        name, version = requirement.strip().split("==")
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
        found.setdefault(name.lower().replace("_", "-"), []).append((version, marker.strip(), hashes))
    return found


def lock(name: str) -> dict[str, list[tuple[str, str, list[str]]]]:
    return requirements((ROOT / name).read_text())


def default(text: str, pattern: str) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, pattern
    return match[1]


def test_requirements_parser_on_an_analytic_case():
    text = ("# header\na==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"
            "B_c==2+cpu ; sys_platform == 'linux' \\\n    --hash=sha256:" + "1" * 64 + " \\\n"
            "    --hash=sha256:" + "2" * 64 + "\n    # via x\n")
    assert requirements(text) == {"a": [("1.0", "", ["0" * 64])],
                                  "b-c": [("2+cpu", "sys_platform == 'linux'", ["1" * 64, "2" * 64])]}


@pytest.mark.parametrize("name", ["requirements.lock", *[f"requirements-torch-{v}.lock" for v in VARIANTS]])
def test_every_pin_is_exact_and_hashed(name):
    pins = lock(name)
    assert pins
    for package, entries in pins.items():
        for version, _, hashes in entries:
            assert re.fullmatch(r"[\w.+]+", version) and hashes, (package, version)


def test_lock_is_requirements_in_with_hashes_and_without_torch():
    pinned = requirements((ROOT / "requirements.in").read_text())
    locked = lock("requirements.lock")
    assert {k: [v for v, _, _ in e] for k, e in locked.items()} == {k: [v for v, _, _ in e] for k, e in pinned.items()}
    assert "torch" not in locked


@pytest.mark.parametrize("variant", VARIANTS)
def test_torch_locks_add_torch_and_nothing_the_main_lock_pins(variant):
    """Installed one after the other with --no-deps, the two files must not name a package twice."""
    torch_lock = lock(f"requirements-torch-{variant}.lock")
    assert "torch" in torch_lock
    assert not set(torch_lock) & set(lock("requirements.lock"))


def test_cpu_lock_pins_the_cpu_build_that_its_header_names():
    """On Linux x86-64 the pin carries the +cpu local version: PyPI's build of the same version is the CUDA
    one, which --no-deps would install without its CUDA libraries (engineering notes)."""
    text = (ROOT / "requirements-torch-cpu.lock").read_text()
    linux = [e for e in lock("requirements-torch-cpu.lock")["torch"] if "linux" in e[1]]
    assert len(linux) == 1 and linux[0][0].endswith("+cpu") and len(linux[0][2]) == 1
    assert "platform_machine == 'x86_64'" in linux[0][1]
    wheel = default(text, r"Linux x86-64: (torch-\S+\.whl) from")
    assert wheel.startswith(f"torch-{linux[0][0]}-cp311-")


def test_cuda_lock_pins_the_runtime_wheels_of_the_same_torch():
    cu = lock("requirements-torch-cu130.lock")
    cpu_version = lock("requirements-torch-cpu.lock")["torch"][0][0]
    assert cu["torch"][0][0] == cpu_version.removesuffix("+cpu")
    assert {"triton", "nvidia-cublas", "nvidia-cudnn-cu13"} <= set(cu)


def test_makefile_dockerfile_and_compose_name_the_same_default_build():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    build = compose["x-repro"]["build"]["args"]["TORCH_VARIANT"]
    make = default(MAKEFILE, r"^TORCH \?= (\w+)$")
    assert make == default(DOCKERFILE, r"^ARG TORCH_VARIANT=(\w+)$") == build.removesuffix("}").split("-")[-1]
    assert make in VARIANTS
    assert default(MAKEFILE, r"^TORCH_LOCK := (\S+)$") == "requirements-torch-$(TORCH).lock"


def make(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


def test_makefile_installs_each_lock_with_hashes_and_without_dependencies(tmp_path):
    dry = make("-n", "-B", f"VENV={tmp_path}/v", f"{tmp_path}/v/.locked-cpu").stdout
    installs = [line for line in dry.splitlines() if "pip install" in line]
    assert all("--no-deps --require-hashes" in line for line in installs) and len(installs) == 2
    assert "-r requirements-torch-cpu.lock" in installs[0] and "-r requirements.lock" in installs[1]


@pytest.mark.parametrize(("made", "expected"), [
    ((), "--results-dir {tmp}/results"),  # nothing at all: the stores, whose absence `repro figures` explains
    (("reference/tiny/ising-main.zarr.zip",), "--reference {tmp}/reference"),
    (("reference/tiny/ising-main.zarr.zip", "results/ising-main-tiny.zarr"), "--results-dir {tmp}/results"),
])
def test_make_figures_draws_from_the_stores_else_from_the_reference(made, expected, tmp_path):
    for path in made:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).touch()
    dirs = (f"RESULTS_DIR={tmp_path}/results", f"REFERENCE_DIR={tmp_path}/reference", f"VENV={tmp_path}/v")
    dry = make("-n", "figures", "SCALE=tiny", *dirs).stdout
    line = next(line for line in dry.splitlines() if "repro figures" in line)
    assert line.endswith("--scale tiny " + expected.format(tmp=tmp_path))
    forced = make("-n", "figures", "SCALE=tiny", "FROM=reference", *dirs).stdout
    assert f"--reference {tmp_path}/reference" in forced


def test_unknown_torch_build_is_one_clear_line():
    result = make("TORCH=cu999", ".venv/.locked-cu999")
    assert result.returncode != 0
    assert "TORCH=cu999: no requirements-torch-cu999.lock" in result.stderr
    assert all(v in result.stderr for v in VARIANTS)


def test_install_without_the_cpu_build_stops_with_where_to_get_it(tmp_path):
    """No index and no local wheel: the rule stops before anything else, naming the lock and the index."""
    (tmp_path / "empty").mkdir()
    result = make(f"VENV={tmp_path}/v", f"PYTHON={sys.executable}", f"TORCH_INDEX=file://{tmp_path}/none",
                  f"{tmp_path}/v/.locked-cpu", PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1",
                  PIP_FIND_LINKS=str(tmp_path / "empty"))
    assert result.returncode != 0
    assert "was found neither in pip's own sources nor at" in result.stderr
    assert f"file://{tmp_path}/none/torch/" in result.stderr and "requirements-torch-cpu.lock" in result.stderr
    assert not list((tmp_path / "v").glob("lib/python*/site-packages/torch"))
    assert not (tmp_path / "v" / ".locked-cpu").exists()
