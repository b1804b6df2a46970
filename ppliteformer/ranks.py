"""Which process of a ``python -m paddle.distributed.launch`` job this one is.

launch starts one process per device (``--nproc_per_node``, ``--devices``, ``--ips``) and tells
each its rank and the job's size in the environment; without launch this is rank 0 of 1, and
everything runs as it always did. Rank 0 is the only writer: it runs every stage, writes the
stage folders, the manifest and the report; the other ranks join the training stages only
(pipeline/runner.py) and read what rank 0 wrote.

Standard library only.
"""
from __future__ import annotations

import os

WORLD_ENV, RANK_ENV = "PADDLE_TRAINERS_NUM", "PADDLE_TRAINER_ID"  # set by paddle.distributed.launch


def world_size() -> int:
    return max(1, int(os.environ.get(WORLD_ENV, "1") or 1))


def rank() -> int:
    return int(os.environ.get(RANK_ENV, "0") or 0) if world_size() > 1 else 0


def is_writer() -> bool:
    return rank() == 0


def per_rank_batch(global_batch: int, where: str) -> int:
    """The batch each rank trains on: the strategy's (global) batch over the ranks, which must divide it."""
    from .errors import ConfigError

    ranks = world_size()
    if global_batch % ranks:
        raise ConfigError(f"{where}: batch_size {global_batch} is the global batch, split evenly over the "
                          f"{ranks} ranks of this paddle.distributed.launch job, and {ranks} does not divide it. "
                          f"Set batch_size to a multiple of {ranks}, or launch a number of ranks that divides "
                          f"{global_batch}.")
    return global_batch // ranks
