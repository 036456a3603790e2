"""banlist-py: an admission plugin for Passage, written in Python.

Keeps the players its config lists (names or UUIDs) out of the network, with a
message in their language; everyone else is let in.

Built with componentize-py against world `admission-plugin` of
wit/0.3.0/plugin.wit (see README.md).
"""

import json
import re
from typing import List, Optional, Set

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import admission
from wit_world.imports import context, log, types

KNOWN_KEYS = frozenset({"players", "reason"})

# Operators override these texts with `[messages.<locale>] "<key>" = "..."`.
BANNED_KEY = "banlist-py.banned"
BANNED_REASON_KEY = "banlist-py.banned-reason"

BANNED = {
    "en_us": "You are banned from this network.",
    "de_de": "Du bist von diesem Netzwerk gebannt.",
    "fr_fr": "Vous êtes banni de ce réseau.",
}
# `{0}` is the configured `reason`.
BANNED_REASON = {
    "en_us": "You are banned from this network: {0}",
    "de_de": "Du bist von diesem Netzwerk gebannt: {0}",
    "fr_fr": "Vous êtes banni de ce réseau : {0}",
}

NAME = re.compile(r"[A-Za-z0-9_]{1,16}")
UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


def uuid_key(text: str) -> Optional[str]:
    """32 lower-case hex digits when `text` is a UUID (hyphens as Minecraft
    writes them, or none), else None."""
    if UUID.fullmatch(text) and text.count("-") in (0, 4):
        return text.replace("-", "").lower()
    return None


# Set by configure. Module state, not `self`: componentize-py does not keep one
# object across calls, but the module lives as long as the component instance.
_names: Set[str] = set()
_uuids: Set[str] = set()
_message: Optional[context.Message] = None


def localized(key: str, texts: dict, args: List[str]) -> context.Message:
    return context.Message_Localized(
        context.Localized(
            key=key,
            args=args,
            translations=list(texts.items()),
            fallback=texts["en_us"],
        )
    )


class Admission(exports.Admission):
    def configure(self, config: str) -> None:
        global _names, _uuids, _message
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
                + ": banlist-py takes `players` and `reason`"
            )

        players = table.get("players", [])
        if not isinstance(players, list):
            raise Err(f"`players` must be a list of names and UUIDs, got {json.dumps(players)}")
        names, uuids = set(), set()
        for entry in players:
            if not isinstance(entry, str):
                raise Err(f"`players`: {json.dumps(entry)} is not a name or UUID")
            uuid = uuid_key(entry)
            if uuid is not None:
                uuids.add(uuid)
            elif NAME.fullmatch(entry):
                names.add(entry.lower())
            else:
                raise Err(
                    f"`players`: `{entry}` is neither a player name (1-16 letters, digits, _) nor a UUID"
                )

        reason = table.get("reason")
        if reason is None:
            message = localized(BANNED_KEY, BANNED, [])
        elif isinstance(reason, str) and reason.strip():
            message = localized(BANNED_REASON_KEY, BANNED_REASON, [reason])
        else:
            raise Err(f"`reason` must be a non-empty string, got {json.dumps(reason)}")

        _names, _uuids, _message = names, uuids, message
        log.log(log.Level.INFO, f"banlist-py configured: {len(names) + len(uuids)} banned")

    def admit(self, player: types.Player, player_context: context.PlayerContext) -> admission.Verdict:
        if player.name.lower() in _names or uuid_key(player.uuid) in _uuids:
            log.log(log.Level.INFO, f"{player.name} ({player.uuid}) is banned")
            return admission.Verdict_Deny(_message)
        return admission.Verdict_Allow()
