"""rendezvous-py: a strategy plugin for Passage, written in Python.

Highest-random-weight (rendezvous) hashing: every target gets a score
FNV-1a-64(player.uuid + "/" + target.id) and the player goes to the target with
the highest score (ties: the smallest id). A player keeps their target for as
long as it exists; when a target goes away, only its players move.

Built with componentize-py against world `strategy-plugin` of
wit/0.1.0/plugin.wit (see README.md).
"""

import json
from typing import List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log, types

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK = 0xFFFFFFFFFFFFFFFF

# This plugin takes no settings; any key in [plugins.rendezvous-py] is a mistake.
KNOWN_KEYS: frozenset = frozenset()


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & MASK
    return h


# The target ids from the last set-targets, sorted. Module state, not `self`:
# componentize-py does not keep one `Strategy` object across calls (an attribute
# set in `set_targets` is gone in `select`), but the module lives as long as the
# component instance. One instance serves one call at a time: no locking.
_targets: List[str] = []


class Strategy(exports.Strategy):
    def configure(self, config: str) -> None:
        try:
            table = json.loads(config)
        except ValueError as e:
            raise Err(f"config is not JSON: {e}")
        if not isinstance(table, dict):
            raise Err("config must be a table")
        unknown = sorted(k for k in table if k not in KNOWN_KEYS)
        if unknown:
            raise Err(
                "unknown key(s) "
                + ", ".join(f"`{k}`" for k in unknown)
                + ": rendezvous-py takes no settings"
            )
        log.log(log.Level.INFO, "rendezvous-py configured (FNV-1a-64 rendezvous hashing)")

    def set_targets(self, targets: List[types.Target]) -> None:
        global _targets
        # Sorted by id, so a strict ">" below keeps the smallest id on a tie.
        _targets = sorted(t.id for t in targets)
        log.log(log.Level.DEBUG, f"rendezvous-py: {len(_targets)} target(s)")

    def select(self, player: types.Player) -> Optional[str]:
        best: Optional[str] = None
        best_score = -1
        prefix = player.uuid.encode() + b"/"
        for target_id in _targets:
            score = fnv1a64(prefix + target_id.encode())
            if score > best_score:
                best, best_score = target_id, score
        return best
