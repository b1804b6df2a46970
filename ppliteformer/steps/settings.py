"""The settings shared by every section that trains, and the check its dataclasses use.

Kept apart from config.py so that each compression step (ppliteformer/steps) can declare its
own section by extending these, while config.py reads the steps' registry.
"""
from __future__ import annotations

from dataclasses import dataclass


def check(condition: bool, message: str) -> None:
    """A config dataclass's range check: a ValueError that config.py reports with the file and section."""
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class TrainingConfig:
    """Optimiser settings shared by every section that trains."""
    epochs: float = 1.25     # passes over the train split; a fraction such as 1.5 is allowed
    evals_per_epoch: int = 2  # dev accuracy checks per epoch; the best checkpoint is kept
    batch_size: int = 16
    learning_rate: float = 5e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42

    def __post_init__(self):
        check(0 < self.epochs <= 1000, "epochs must be a number in (0, 1000], e.g. 2 or 1.5")
        check(1 <= self.evals_per_epoch <= 100, "evals_per_epoch must be between 1 and 100")
        check(1 <= self.batch_size <= 4096, "batch_size must be between 1 and 4096")
        check(0 < self.learning_rate < 1, "learning_rate must be in (0, 1), e.g. 1.0e-3")
        check(0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)")
        check(0 <= self.weight_decay < 1, "weight_decay must be in [0, 1)")


@dataclass(frozen=True)
class DistilledTrainingConfig(TrainingConfig):
    """Training against the teacher: alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher || student)."""
    alpha: float = 0.2
    temperature: float = 2.0

    def __post_init__(self):
        super().__post_init__()
        check(0 <= self.alpha <= 1, "alpha (weight of the hard-label loss) must be in [0, 1]")
        check(0 < self.temperature <= 100, "temperature must be in (0, 100]")
