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
import re

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


def lost_peer_message(exc: BaseException) -> str | None:
    """What to tell the user when this rank's collective failed because another rank died (gloo's
    transport error names the peer it lost as ``pair_rank``); None for any other error.

    launch reports the first rank that exits: when a killed rank takes its peer down within launch's
    2-second watch, that is rank 0 with gloo's C++ error, which says nothing a user can act on.
    """
    text = str(exc)
    if world_size() == 1 or "gloo/transport" not in text:
        return None
    peer = re.search(r"pair_rank = (\d+)", text)
    who = f"rank {peer.group(1)}" if peer else "another rank"
    return (f"rank {rank()} of this paddle.distributed.launch job lost {who} in the middle of training: {who} "
            f"died or was killed (its own log, workerlog.N in launch's log folder, says why). Nothing of the stage "
            f"in progress was recorded; run the same command again to resume after the last finished stage.")
