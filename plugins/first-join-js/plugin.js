// first-join-js: a selection plugin for Passage, written in JavaScript.
//
// A player's first login goes to the `tutorial` target, and the plugin notes in
// the data that travels with the player (the `extra` of the authentication
// cookie) that they have been there: `{"firstJoin": {"seen": true}}`. Every
// later login goes to the `lobby` target. When the target a player needs is not
// among the discovered ones, the player is refused with a message in their
// language.
//
// Built with componentize-js against world `selection-plugin` of
// wit/0.3.0/plugin.wit (see README.md).

import { log } from 'passage:plugin/log@0.3.0';

const KEYS = ['tutorial', 'lobby'];

// Operators override this text with `[messages.<locale>] "first-join-js.unavailable"`.
// `{0}` is the id of the missing target.
function unavailable(id) {
  return {
    tag: 'localized',
    val: {
      key: 'first-join-js.unavailable',
      args: [id],
      translations: [
        ['en_us', 'Your server is not available right now. Please try again in a moment.'],
        ['de_de', 'Dein Server ist gerade nicht erreichbar. Bitte versuche es gleich noch einmal.'],
        ['fr_fr', "Votre serveur n'est pas disponible pour le moment. Veuillez réessayer dans un instant."],
      ],
      fallback: 'Your server is not available right now. Please try again in a moment.',
    },
  };
}

// The extra patch (RFC 7396 JSON merge patch) for a first login: sets
// `firstJoin.seen`, keeps every other key of `extra` (and of `firstJoin`).
const SEEN = JSON.stringify({ firstJoin: { seen: true } });

// State of this instance (one instance serves one call at a time), set by
// `configure` and `setTargets`.
let config = null;
let ids = new Set();

function seen(extraJson) {
  let extra;
  try {
    extra = JSON.parse(extraJson);
  } catch {
    return false;
  }
  return extra?.firstJoin?.seen === true;
}

export const selection = {
  configure(json) {
    let table;
    try {
      table = JSON.parse(json);
    } catch (e) {
      throw `config is not JSON: ${e}`;
    }
    if (table === null || typeof table !== 'object' || Array.isArray(table)) {
      throw 'config must be a table';
    }
    const unknown = Object.keys(table).filter((k) => !KEYS.includes(k)).sort();
    if (unknown.length > 0) {
      throw `unknown key(s) ${unknown.map((k) => `\`${k}\``).join(', ')}: first-join-js takes \`tutorial\` and \`lobby\``;
    }
    for (const key of KEYS) {
      if (!(key in table)) {
        throw `\`${key}\` is required: the id of a target`;
      }
      if (typeof table[key] !== 'string' || table[key] === '') {
        throw `\`${key}\` must be a target id (a non-empty string), got ${JSON.stringify(table[key])}`;
      }
    }
    config = { tutorial: table.tutorial, lobby: table.lobby };
    log('info', `first-join-js configured: first logins to ${config.tutorial}, then ${config.lobby}`);
  },

  setTargets(targets) {
    ids = new Set(targets.map((t) => t.id));
  },

  select(player, context) {
    const first = !seen(context.extra);
    const id = first ? config.tutorial : config.lobby;
    if (!ids.has(id)) {
      log('warn', `first-join-js: target ${id} for ${player.name} is not among the discovered targets`);
      return { tag: 'reject', val: unavailable(id) };
    }
    return { tag: 'target', val: [id, first ? SEEN : undefined] };
  },
};
