// {{name}}: a Passage admission plugin in JavaScript, made by `passage plugin new`.
//
// Keeps the players its table lists (`deny`, names or UUIDs) out of the
// network, with a message in their language; everyone else is let in. Built
// with componentize-js against world `admission-plugin` of wit/plugin.wit (see
// build.sh).

import { log } from 'passage:plugin/log@0.3.0';

// The operator overrides these texts with `[messages.<locale>] "{{name}}.denied"`.
const DENIED = [
  ['en_us', 'You may not join this network.'],
  ['de_de', 'Du darfst diesem Netzwerk nicht beitreten.'],
  ['fr_fr', 'Vous ne pouvez pas rejoindre ce réseau.'],
];

// Per-instance state: module variables live as long as the component instance.
let denied = new Set();

// Names in any case, UUIDs with or without hyphens.
const key = (text) => text.replaceAll('-', '').toLowerCase();

export const admission = {
  configure(config) {
    const table = JSON.parse(config); // the [plugins.{{name}}] table, `{}` when absent
    const unknown = Object.keys(table).filter((k) => k !== 'deny');
    if (unknown.length > 0) {
      throw `unknown key(s): ${unknown.join(', ')}`;
    }
    denied = new Set((table.deny ?? []).map(key));
    log('info', `{{name}} configured (${denied.size} kept out)`);
  },

  admit(player, context) {
    if (denied.has(key(player.name)) || denied.has(key(player.uuid))) {
      return {
        tag: 'deny',
        val: {
          tag: 'localized',
          val: { key: '{{name}}.denied', args: [], translations: DENIED, fallback: DENIED[0][1] },
        },
      };
    }
    return { tag: 'allow' };
  },
};
