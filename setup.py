"""Package metadata. `pip install -e .` for CPU;
`MAMBA_KEEP_CUDA_BUILD=TRUE pip install --no-build-isolation -e .[cuda]` adds the CUDA scan kernel (README, "GPU").
"""

from pathlib import Path

from setuptools import find_packages, setup


def _requirements(name: str) -> list:
    lines = Path(__file__).with_name(name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


setup(
    name="dpmambair",
    version="0.1.0",
    description="DPMambaIR: all-in-one image restoration with degradation-aware prompt state space models",
    packages=find_packages(include=["dpmambair", "dpmambair.*"]),
    python_requires=">=3.9",
    install_requires=_requirements("requirements.txt"),
    extras_require={"cuda": _requirements("requirements-cuda.txt"), "dev": _requirements("requirements-dev.txt")},
)
