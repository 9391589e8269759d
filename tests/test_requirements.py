"""Each platform gets the TensorFlow build that has a wheel there; requirements-gpu.txt differs only on Linux x86_64.

The markers are evaluated with packaging (a dependency of pytest, so present wherever the tests run) against the
environment pip sees on each platform. Which wheels exist was checked against PyPI by hand (pip download
--platform ...; the outcome is docs/install.md); these tests keep the markers choosing them.
"""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

TENSORFLOW_BUILDS = frozenset({"tensorflow", "tensorflow-cpu"})

# The marker variables pip reads on each platform (Python's sys.platform, platform.system(), platform.machine()).
PLATFORMS = {
    "linux-x86_64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
    "linux-aarch64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64"},
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
    "macos-x86_64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "x86_64"},
    "windows-amd64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64"},
}

# tensorflow-cpu has wheels for Linux x86_64 and Windows only; TensorFlow's one build elsewhere is tensorflow.
# Intel Macs have no TensorFlow 2.21 at all: they get tensorflow too, so pip stops with "No matching distribution
# found for tensorflow==2.21.0" rather than installing everything else and `import tensorflow` failing later.
CPU_BUILD = {"linux-x86_64": "tensorflow-cpu", "linux-aarch64": "tensorflow", "macos-arm64": "tensorflow",
             "macos-x86_64": "tensorflow", "windows-amd64": "tensorflow-cpu"}


def requirements(path) -> list[Requirement]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


def installed_on(path, platform: str) -> dict[str, Requirement]:
    """The requirements pip installs from ``path`` on ``platform``, by name; a name may be selected once only."""
    selected = [req for req in requirements(path) if req.marker is None or req.marker.evaluate(PLATFORMS[platform])]
    names = [req.name for req in selected]
    assert len(names) == len(set(names)), f"{path.name} selects a requirement twice on {platform}: {sorted(names)}"
    return {req.name: req for req in selected}


def pin(req: Requirement) -> str:
    """What a requirement installs, without the marker that says where: ``tensorflow[and-cuda]==2.21.0``."""
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{req.specifier}"


def tensorflow_of(installed: dict[str, Requirement]) -> Requirement:
    builds = [req for name, req in installed.items() if name in TENSORFLOW_BUILDS]
    assert len(builds) == 1, f"expected exactly one TensorFlow build, got {[str(req) for req in builds]}"
    return builds[0]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_platform_gets_the_tensorflow_build_that_has_a_wheel_there(repo_root, platform):
    tensorflow = tensorflow_of(installed_on(repo_root / "requirements.txt", platform))
    assert tensorflow.name == CPU_BUILD[platform]
    assert not tensorflow.extras


def test_every_platform_gets_the_same_tensorflow_version_and_every_other_pin(repo_root):
    everywhere = [installed_on(repo_root / "requirements.txt", platform) for platform in PLATFORMS]
    versions = {str(tensorflow_of(installed).specifier) for installed in everywhere}
    assert len(versions) == 1 and versions.pop().startswith("=="), "one exact TensorFlow pin on every platform"
    others = [{name: req for name, req in each.items() if name not in TENSORFLOW_BUILDS} for each in everywhere]
    assert all(each.keys() == others[0].keys() for each in others), "every other pin is installed on every platform"
    assert all(req.marker is None for req in others[0].values()), "only TensorFlow depends on the platform"
    assert all(str(req.specifier).startswith("==") for req in others[0].values()), "every requirement is pinned exactly"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_gpu_requirements_differ_only_in_the_tensorflow_build(repo_root, platform):
    cpu = installed_on(repo_root / "requirements.txt", platform)
    gpu = installed_on(repo_root / "requirements-gpu.txt", platform)
    if platform == "linux-x86_64":  # the one platform TensorFlow 2.21 has a CUDA build for
        cpu_tensorflow, gpu_tensorflow = tensorflow_of(cpu), gpu.pop("tensorflow")
        assert gpu_tensorflow.extras == {"and-cuda"} and gpu_tensorflow.specifier == cpu_tensorflow.specifier
        del cpu[cpu_tensorflow.name]
    assert {name: pin(req) for name, req in gpu.items()} == {name: pin(req) for name, req in cpu.items()}
