"""{{name}}: a Passage admission plugin in Python, made by `passage plugin new`.

Keeps the players its table lists (`deny`, names or UUIDs) out of the network,
with a message in their language; everyone else is let in. Built with
componentize-py against world `admission-plugin` of wit/plugin.wit (see
build.sh).
"""

import json
from typing import Set

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import admission
from wit_world.imports import context, log, types

# The operator overrides these texts with `[messages.<locale>] "{{name}}.denied"`.
DENIED = {
    "en_us": "You may not join this network.",
    "de_de": "Du darfst diesem Netzwerk nicht beitreten.",
    "fr_fr": "Vous ne pouvez pas rejoindre ce réseau.",
}

# Per-instance state lives in the module, not in `self`: componentize-py does
# not keep one `Admission` object across calls.
_denied: Set[str] = set()


def _key(text: str) -> str:
    """Names in any case, UUIDs with or without hyphens."""
    return text.replace("-", "").lower()


class Admission(exports.Admission):
    def configure(self, config: str) -> None:
        global _denied
        table = json.loads(config)  # the [plugins.{{name}}] table, `{}` when absent
        unknown = sorted(k for k in table if k != "deny")
        if unknown:
            raise Err(f"unknown key(s): {', '.join(unknown)}")
        _denied = {_key(p) for p in table.get("deny", [])}
        log.log(log.Level.INFO, f"{{name}} configured ({len(_denied)} kept out)")

    def admit(self, player: types.Player, player_context: context.PlayerContext) -> admission.Verdict:
        if _key(player.name) in _denied or _key(player.uuid) in _denied:
            return admission.Verdict_Deny(
                context.Message_Localized(
                    context.Localized(
                        key="{{name}}.denied",
                        args=[],
                        translations=list(DENIED.items()),
                        fallback=DENIED["en_us"],
                    )
                )
            )
        return admission.Verdict_Allow()
