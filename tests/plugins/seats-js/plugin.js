// seats-js: a test fixture, a placement plugin in JavaScript on a key-value
// bucket. One target with `capacity` seats, counted in the granted bucket
// `seats` with keyvalue-ext `acquire` (given back by `release`), and a login
// counter kept with wasi:keyvalue/atomics `increment`, logged on every
// placement. It checks, from JavaScript, the imports docs/plugins/keyvalue.md
// describes.
//
// Built with componentize-js against world `placement-plugin` of
// wit/0.3.0/plugin.wit.

import { log } from 'passage:plugin/log@0.3.0';
import { open } from 'wasi:keyvalue/store@0.2.0-draft';
import { increment } from 'wasi:keyvalue/atomics@0.2.0-draft';
import { acquire, release } from 'passage:plugin/keyvalue-ext@0.3.0';

const SEAT_MS = 600000n; // u64: a BigInt

let bucket = null;
let target = null;
let capacity = 1;

function full() {
  return {
    tag: 'localized',
    val: {
      key: 'seats-js.full',
      args: [],
      translations: [['en_us', 'seats-js: every seat is taken.']],
      fallback: 'seats-js: every seat is taken.',
    },
  };
}

// A result error of an import is thrown; its payload is the WIT variant.
function why(e) {
  const p = e?.payload;
  return p ? (p.val === undefined ? p.tag : `${p.tag}: ${p.val}`) : String(e);
}

export const placement = {
  configure(json) {
    const table = JSON.parse(json);
    const t = table.target ?? {};
    target = { id: String(t.id ?? ''), host: String(t.host ?? ''), port: t.port ?? 25565, metadata: [] };
    capacity = table.capacity ?? 1;
    try {
      bucket = open('seats');
    } catch (e) {
      throw `bucket seats: ${why(e)}`;
    }
  },
  place(player, context) {
    let logins;
    let held;
    try {
      logins = increment(bucket, 'logins', 1n);
      held = acquire(bucket, 'held', player.uuid, capacity, SEAT_MS);
    } catch (e) {
      return { tag: 'reject', val: { tag: 'text', val: `seats-js: the store failed: ${why(e)}` } };
    }
    log('info', `seats-js: login ${logins}, ${player.name} holds: ${held ?? 'none'}`);
    if (held === undefined) {
      return { tag: 'reject', val: full() };
    }
    return { tag: 'placed', val: { target, reservation: player.uuid, extra: undefined } };
  },
  release(reservation) {
    try {
      release(bucket, 'held', reservation);
    } catch (e) {
      // The seat frees itself when its time runs out.
    }
  },
};
