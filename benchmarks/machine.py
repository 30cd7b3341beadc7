"""A one-paragraph description of the machine, printed with every benchmark figure."""

from __future__ import annotations

import os
import platform


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        return None
    return None


def describe() -> str:
    import numpy

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = _memory_gib()
    parts = [
        f"machine: {_cpu_model()}, {cores} cores",
        f"{mem:.0f} GiB RAM" if mem else "",
        f"{platform.system()} {platform.machine()}",
        f"Python {platform.python_version()}, numpy {numpy.__version__}",
    ]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
        if torch.cuda.is_available():
            parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    except ImportError:
        pass
    return ", ".join(p for p in parts if p)


if __name__ == "__main__":
    print(describe())
