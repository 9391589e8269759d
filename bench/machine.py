"""The CPU a benchmark ran on, printed beside every timing (CPUs at "2 cores" differ by 6x in this project)."""

from __future__ import annotations

import os
import subprocess


def cpu_description() -> str:
    """``lscpu``'s model name, the visible core count and the vector extensions that decide TensorFlow's speed."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return f"unknown CPU, {os.cpu_count()} cores visible"
    fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}
    flags = set(fields.get("Flags", "").split())
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"]
    present = [flag for flag in wanted if flag in flags]
    return (f"{fields.get('Model name', 'unknown CPU')}, {os.cpu_count()} cores visible, "
            f"flags: {' '.join(present) or 'none of ' + ' '.join(wanted)}")


if __name__ == "__main__":
    print(cpu_description())
