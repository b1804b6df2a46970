from setuptools import find_packages, setup

setup(
    name="ppliteformer",
    version="0.1.0",
    description="Compress PaddleNLP Transformers with PaddleSlim and deploy them with Paddle Lite",
    packages=find_packages(include=["ppliteformer", "ppliteformer.*"]),
    # C/C++ sources built on the user's machine; the device scripts' README, copied into bundles
    package_data={"ppliteformer.arm": ["native/*"], "ppliteformer.device": ["README.md"]},
    python_requires=">=3.10,<3.11",
    install_requires=[],  # pinned in requirements.lock, installed by scripts/setup.sh
    entry_points={"console_scripts": ["ppliteformer=ppliteformer.cli:main"]},
)
