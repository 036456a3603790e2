// {{name}}: a Passage strategy plugin in JavaScript, made by `passage plugin new`.
//
// Each player goes to the target with the fewest players (metadata `players`,
// or the key set by `players_key`). Built with componentize-js against world
// `strategy-plugin` of wit/plugin.wit (see build.sh).

import { log } from 'passage:plugin/log@0.1.0';

// Per-instance state: module variables live as long as the component instance.
let key = 'players';
let ordered = [];

function count(target) {
  const pair = target.metadata.find(([k]) => k === key);
  return pair !== undefined && /^[0-9]+$/.test(pair[1].trim()) ? Number(pair[1]) : Infinity;
}

export const strategy = {
  configure(config) {
    const table = JSON.parse(config); // the [plugins.{{name}}] table, `{}` when absent
    const unknown = Object.keys(table).filter((k) => k !== 'players_key');
    if (unknown.length > 0) {
      throw `unknown key(s): ${unknown.join(', ')}`;
    }
    key = table.players_key ?? 'players';
    log('info', `{{name}} configured (players_key = ${key})`);
  },

  setTargets(targets) {
    ordered = targets
      .map((t) => ({ id: t.id, players: count(t) }))
      .sort((a, b) => a.players - b.players || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  },

  select(player) {
    return ordered.length > 0 ? ordered[0].id : undefined;
  },
};
