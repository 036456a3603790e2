"""{{name}}: a Passage strategy plugin in Python, made by `passage plugin new`.

Each player goes to the target with the fewest players (metadata `players`, or
the key set by `players_key`). Built with componentize-py against world
`strategy-plugin` of wit/plugin.wit (see build.sh).
"""

import json
from typing import List, Optional, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log, types

# Per-instance state lives in the module, not in `self`: componentize-py does
# not keep one `Strategy` object across calls.
_key: str = "players"
_targets: List[Tuple[int, str]] = []


def _count(target: types.Target) -> int:
    for key, value in target.metadata:
        if key == _key and value.strip().isdigit():
            return int(value)
    return 2**63


class Strategy(exports.Strategy):
    def configure(self, config: str) -> None:
        global _key
        table = json.loads(config)  # the [plugins.{{name}}] table, `{}` when absent
        unknown = sorted(k for k in table if k != "players_key")
        if unknown:
            raise Err(f"unknown key(s): {', '.join(unknown)}")
        _key = table.get("players_key", "players")
        log.log(log.Level.INFO, f"{{name}} configured (players_key = {_key})")

    def set_targets(self, targets: List[types.Target]) -> None:
        global _targets
        _targets = sorted((_count(t), t.id) for t in targets)

    def select(self, player: types.Player) -> Optional[str]:
        return _targets[0][1] if _targets else None
