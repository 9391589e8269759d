"""requirements-gpu.txt is requirements.txt with TensorFlow's CUDA build, and nothing else differs."""

from __future__ import annotations


def pins(path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("==", 1) for line in lines)


def test_gpu_requirements_differ_only_in_the_tensorflow_build(repo_root):
    cpu, gpu = pins(repo_root / "requirements.txt"), pins(repo_root / "requirements-gpu.txt")
    assert gpu.pop("tensorflow[and-cuda]") == cpu.pop("tensorflow-cpu")
    assert gpu == cpu
    assert all(version[0].isdigit() for version in cpu.values()), "every requirement is pinned exactly"
