"""seats-py: a test fixture, a placement plugin in Python on a key-value bucket.

One target with `capacity` seats, counted in the granted bucket `seats` with
`keyvalue-ext.acquire` (given back by `release`), and a login counter kept with
`wasi:keyvalue/atomics.increment`, logged on every placement. It checks, from
Python, the bindings docs/plugins/keyvalue.md describes.

Built with componentize-py against world `placement-plugin` of
wit/0.3.0/plugin.wit.
"""

import json
from typing import Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import placement
from wit_world.imports import atomics, context, keyvalue_ext, log, store, types

SEAT_MS = 600_000

_bucket: Optional[store.Bucket] = None
_target: Optional[types.Target] = None
_capacity = 0


def full() -> context.Message:
    return context.Message_Localized(
        context.Localized(
            key="seats-py.full",
            args=[],
            translations=[("en_us", "seats-py: every seat is taken.")],
            fallback="seats-py: every seat is taken.",
        )
    )


def unavailable(why: str) -> context.Message:
    return context.Message_Text(f"seats-py: the store failed: {why}")


class Placement(exports.Placement):
    def configure(self, config: str) -> None:
        global _bucket, _target, _capacity
        table = json.loads(config)
        t = table.get("target") or {}
        _target = types.Target(
            id=str(t.get("id", "")),
            host=str(t.get("host", "")),
            port=int(t.get("port", 25565)),
            metadata=[],
        )
        _capacity = int(table.get("capacity", 1))
        try:
            _bucket = store.open("seats")
        except Err as e:
            # e.value: store.Error_AccessDenied() when the bucket is not granted.
            if isinstance(e.value, store.Error_AccessDenied):
                raise Err("bucket seats: access denied (not granted)")
            raise Err(f"bucket seats: {e.value}")

    def place(self, player: types.Player, ctx: context.PlayerContext) -> placement.Placement:
        try:
            logins = atomics.increment(_bucket, "logins", 1)
            held = keyvalue_ext.acquire(_bucket, "held", player.uuid, _capacity, SEAT_MS)
        except Err as e:
            # store.Error_Other("store unavailable: ...") when the store fails.
            return placement.Placement_Reject(unavailable(str(e.value)))
        log.log(log.Level.INFO, f"seats-py: login {logins}, {player.name} holds: {held}")
        if held is None:
            return placement.Placement_Reject(full())
        return placement.Placement_Placed(
            placement.Placed(target=_target, reservation=player.uuid, extra=None)
        )

    def release(self, reservation: str) -> None:
        try:
            keyvalue_ext.release(_bucket, "held", reservation)
        except Err:
            pass
