"""The minikube role on the laptops people have: the size of a new profile and the hint when
the engine is too small (Docker Desktop, its WSL 2 backend, Colima, Rancher Desktop, Docker
Engine under WSL 2, plain Linux).

The decision (roles/minikube/tasks/size.yml) is run by ansible-playbook with the `docker info`
each engine reports (the fields community.docker.docker_host_info returns: NCPU, MemTotal,
OperatingSystem, KernelVersion, Name). Reading the real local daemon end to end is the docker
tier's (tests/docker/test_minikube_sizing.py).
"""

from __future__ import annotations

import os

import pytest

from tests.ansible_run import ROOT, VENV_BIN, base_env, minikube_size, run_playbook

GIB = 1024**3


def engine(os_name: str, kernel: str, name: str, cpus: int, mem_gib: float) -> dict:
    return {"OperatingSystem": os_name, "KernelVersion": kernel, "Name": name, "NCPU": cpus,
            "MemTotal": int(mem_gib * GIB)}  # fmt: skip


# What each engine's `docker info` says (memory is the VM's, a little under what was configured).
DOCKER_DESKTOP_MAC_8G = engine("Docker Desktop", "6.10.14-linuxkit", "docker-desktop", 8, 3.83)
DOCKER_DESKTOP_MAC_2G = engine("Docker Desktop", "6.10.14-linuxkit", "docker-desktop", 4, 1.92)
DOCKER_DESKTOP_WSL2 = engine("Docker Desktop", "6.6.87.2-microsoft-standard-WSL2", "docker-desktop", 8, 2.9)
COLIMA_DEFAULT = engine("Ubuntu 24.04.2 LTS", "6.8.0-60-generic", "colima", 2, 1.92)
COLIMA_4G = engine("Ubuntu 24.04.2 LTS", "6.8.0-60-generic", "colima", 2, 3.83)
RANCHER = engine("Rancher Desktop WSL Distribution", "6.6.87.2-microsoft-standard-WSL2", "rancher", 2, 2.9)
WSL2_ENGINE_8G = engine("Ubuntu 24.04.2 LTS", "6.6.87.2-microsoft-standard-WSL2", "LAPTOP-1", 8, 3.78)
WSL2_ENGINE_6G = engine("Ubuntu 24.04.2 LTS", "6.6.87.2-microsoft-standard-WSL2", "LAPTOP-1", 4, 2.86)
LINUX_16G = engine("Debian GNU/Linux 12 (bookworm)", "6.1.0-31-amd64", "workstation", 12, 15.5)
ARM64_LINUX_8G = engine("Ubuntu 24.04.2 LTS", "6.8.0-1020-raspi", "pi", 4, 7.6)


FITS = [
    # (case, engine info, minikube_cpus, minikube_memory_mb, expected cpus, memory, engine)
    ("docker-desktop-mac-8g", DOCKER_DESKTOP_MAC_8G, "auto", "auto", 4, 3665, "docker-desktop"),
    ("colima-4g", COLIMA_4G, "auto", "auto", 2, 3665, "colima"),
    ("wsl2-engine-8g", WSL2_ENGINE_8G, "auto", "auto", 4, 3614, "wsl2"),
    ("linux-16g", LINUX_16G, "auto", "auto", 4, 4096, "docker"),
    ("linux-arm64-8g", ARM64_LINUX_8G, "auto", "auto", 4, 4096, "docker"),
    ("linux-16g-explicit", LINUX_16G, 6, 8192, 6, 8192, "docker"),
]


@pytest.mark.parametrize(("case", "info", "cpus", "memory", "want_cpus", "want_memory", "kind"), FITS,
                         ids=[c[0] for c in FITS])  # fmt: skip
def test_a_new_profile_is_sized_to_what_the_engine_offers(tmp_path, case, info, cpus, memory, want_cpus,
                                                          want_memory, kind):  # fmt: skip
    rc, facts, output = minikube_size(tmp_path, test_engine_info=info, minikube_cpus=cpus, minikube_memory_mb=memory)
    assert rc == 0, output[-3000:]
    assert (facts["cpus"], facts["memory_mb"], facts["engine"]) == (want_cpus, want_memory, kind)
    assert f"will be created with {want_cpus} CPUs and {want_memory} MiB" in output


TOO_SMALL = [
    # (case, engine info, kernel (/proc/version), words the failure must contain)
    ("docker-desktop-mac-2g", DOCKER_DESKTOP_MAC_2G, "", ["Docker Desktop's VM", "offers only 4 CPUs and 1966 MiB",
                                                          "Settings > Resources > Advanced, Memory at least 4 GB"]),
    ("docker-desktop-wsl2", DOCKER_DESKTOP_WSL2, "", ["Docker Desktop's WSL 2 VM", ".wslconfig", "memory=6GB",
                                                      "wsl --shutdown"]),
    ("colima-default", COLIMA_DEFAULT, "", ["Colima's VM", "offers only 2 CPUs and 1966 MiB",
                                            "colima start --cpu 2 --memory 4"]),
    ("rancher-desktop", RANCHER, "", ["Rancher Desktop's VM", "Preferences > Virtual Machine"]),
    ("wsl2-engine-6g", WSL2_ENGINE_6G, "Linux version 6.6.87.2-microsoft-standard-WSL2", [
        "the WSL 2 VM", "%UserProfile%\\.wslconfig", "processors=2", "wsl --shutdown"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "info", "kernel", "words"), TOO_SMALL, ids=[c[0] for c in TOO_SMALL])
def test_an_engine_below_3_gib_is_refused_with_the_fix_for_that_engine(tmp_path, case, info, kernel, words):
    rc, facts, output = minikube_size(tmp_path, test_engine_info=info, test_kernel=kernel)
    assert rc != 0 and facts is None
    assert "Minikube out of resources: profile todo needs at least 2 CPUs and 3072 MiB" in output
    for word in words:
        assert word in output, (word, output[-2000:])
    assert "Or lower minikube_cpus" not in output, "auto sizes are not the user's to lower"


def test_an_explicit_size_larger_than_the_engine_is_refused_naming_both_fixes(tmp_path):
    rc, _, output = minikube_size(tmp_path, test_engine_info=DOCKER_DESKTOP_MAC_8G, minikube_memory_mb=8192)
    assert rc != 0
    assert "asks for 4 CPUs and 8192 MiB, but Docker Desktop's VM" in output
    assert "Memory at least 9 GB" in output and "Or lower minikube_cpus / minikube_memory_mb" in output


def test_an_explicit_size_below_minikubes_minimum_is_named_as_such(tmp_path):
    rc, _, output = minikube_size(tmp_path, test_engine_info=LINUX_16G, minikube_cpus=1, minikube_memory_mb=1024)
    assert rc != 0
    assert "Minikube needs at least 2 CPUs and 1800 MiB (this app wants 3072); minikube_cpus=1 and" in output
    assert "offers only" not in output


@pytest.mark.parametrize("bad", ["lots", "4g", "-1"])
def test_a_size_that_is_neither_auto_nor_a_number_is_named(tmp_path, bad):
    rc, _, output = minikube_size(tmp_path, test_engine_info=LINUX_16G, minikube_memory_mb=bad)
    assert rc != 0
    assert f'must be "auto" or whole numbers (CPUs, MiB); got minikube_cpus=auto and minikube_memory_mb={bad}' in output


NODES = [
    # (case, engine info, nodes, expected cpus and memory of each node): "auto" memory is shared.
    ("docker-desktop-mac-8g", DOCKER_DESKTOP_MAC_8G, 2, 4, 1832),
    ("linux-16g", LINUX_16G, 2, 4, 4096),
    ("linux-16g-three", LINUX_16G, 3, 4, 4096),
]


@pytest.mark.parametrize(("case", "info", "nodes", "want_cpus", "want_memory"), NODES, ids=[c[0] for c in NODES])
def test_several_nodes_share_the_engines_memory(tmp_path, case, info, nodes, want_cpus, want_memory):
    rc, facts, output = minikube_size(tmp_path, test_engine_info=info, minikube_nodes=nodes)
    assert rc == 0, output[-3000:]
    assert (facts["cpus"], facts["memory_mb"]) == (want_cpus, want_memory)
    assert f"will be created with {want_cpus} CPUs and {want_memory} MiB per node ({nodes} nodes)" in output


def test_two_nodes_that_cannot_fit_are_refused_for_their_total(tmp_path):
    rc, _, output = minikube_size(tmp_path, test_engine_info=COLIMA_4G, minikube_nodes=3)
    assert rc != 0
    assert "needs at least 2 CPUs and 5400 MiB for 3 nodes, but Colima's VM" in output


def test_other_drivers_are_sized_to_this_machine(tmp_path):
    rc, facts, output = minikube_size(tmp_path, test_machine={"cpus": 8, "memory_mb": 16000})
    assert rc == 0, output[-2000:]
    assert facts == {"cpus": 4, "memory_mb": 4096, "engine": "machine", "offers": {"cpus": 8, "memory_mb": 16000}}


INSTALL_HINTS = [
    ("Linux x86_64", "download minikube-linux-amd64 and `sudo install minikube-linux-amd64 /usr/local/bin/minikube`"),
    ("Linux aarch64", "download minikube-linux-arm64 and `sudo install minikube-linux-arm64 /usr/local/bin/minikube`"),
    ("Darwin arm64", "macOS: `brew install minikube`, or download minikube-darwin-arm64"),
    ("Darwin x86_64", "macOS: `brew install minikube`, or download minikube-darwin-amd64"),
]


@pytest.mark.parametrize(("platform", "hint"), INSTALL_HINTS, ids=[p for p, _ in INSTALL_HINTS])
def test_a_missing_minikube_is_named_with_the_download_for_this_os_and_cpu(tmp_path, platform, hint):
    """The prerequisites role with no minikube on PATH; `uname -s -m` given as each platform says it."""
    # An empty tool cache: the play puts it first on PATH, and minikube may be there.
    env = base_env(HOME=str(tmp_path), TODO_CACHE=str(tmp_path / "cache"))
    env["PATH"] = os.pathsep.join([str(VENV_BIN), "/usr/bin", "/bin"])
    run = run_playbook(ROOT / "tests" / "unit" / "playbooks" / "helm4.yml", "-e", "test_part=prerequisites",
                       "-e", "prerequisites_need_minikube=true", "-e", "prerequisites_need_helm=false",
                       "-e", f"prerequisites_platform='{platform}'", env=env)  # fmt: skip
    assert run.returncode == 2, run.output[-3000:]
    assert "minikube is not installed (not found on PATH). Install Minikube: https://minikube.sigs.k8s.io" in run.stdout
    assert hint in " ".join(run.stdout.split()), run.stdout[-2000:]
