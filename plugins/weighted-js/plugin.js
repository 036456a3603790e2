// weighted-js: a strategy plugin for Passage, written in JavaScript.
//
// Smooth weighted round robin, the algorithm of nginx's upstream module: each
// target has a weight (metadata `weight`) and a running score. On every select,
// each target's score grows by its weight, the target with the highest score is
// chosen (ties: the smallest id), and the chosen score drops by the sum of all
// weights. Weights 3:1 give a, a, b, a, a, a, b, a, ... — the heavy target never
// gets a long run, the light one is spread evenly.
//
// Built with componentize-js (bundled in jco) against world `strategy-plugin`
// of wit/0.1.0/plugin.wit (see README.md).

import { log } from 'passage:plugin/log@0.1.0';

// Weights above this are treated as invalid, so the scores stay exact integers.
const MAX_WEIGHT = 1_000_000;

// Rotation state of this instance (one instance serves one call at a time):
// [{ id, weight, current }], sorted by id.
let ring = [];

// The weight from a target's metadata: 1 when absent, `null` when invalid.
function weightOf(target) {
  const pair = target.metadata.find(([key]) => key === 'weight');
  if (pair === undefined) {
    return 1;
  }
  const text = pair[1].trim();
  if (!/^[0-9]+$/.test(text)) {
    return null;
  }
  const weight = Number(text);
  return weight <= MAX_WEIGHT ? weight : null;
}

export const strategy = {
  configure(config) {
    let table;
    try {
      table = JSON.parse(config);
    } catch (e) {
      throw `config is not JSON: ${e}`;
    }
    if (table === null || typeof table !== 'object' || Array.isArray(table)) {
      throw 'config must be a table';
    }
    const unknown = Object.keys(table).sort();
    if (unknown.length > 0) {
      throw `unknown key(s) ${unknown.map((k) => `\`${k}\``).join(', ')}: weighted-js takes no settings`;
    }
    log('info', 'weighted-js configured (smooth weighted round robin on metadata `weight`)');
  },

  setTargets(targets) {
    // Keep the running score of targets that stay with the same weight, so a
    // change elsewhere in the set does not restart the rotation.
    const previous = new Map(ring.map((entry) => [entry.id, entry]));
    const invalid = [];
    const next = [];
    for (const target of targets) {
      let weight = weightOf(target);
      if (weight === null) {
        invalid.push(target.id);
        weight = 1;
      }
      if (weight === 0) {
        continue;
      }
      const old = previous.get(target.id);
      const current = old !== undefined && old.weight === weight ? old.current : 0;
      next.push({ id: target.id, weight, current });
    }
    next.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    ring = next;
    if (invalid.length > 0) {
      log(
        'warn',
        `weighted-js: metadata \`weight\` is not an integer from 0 to ${MAX_WEIGHT} for ${invalid.join(', ')}; using 1`,
      );
    }
  },

  select(_player) {
    if (ring.length === 0) {
      return undefined;
    }
    let total = 0;
    let best = ring[0];
    for (const entry of ring) {
      entry.current += entry.weight;
      total += entry.weight;
      if (entry.current > best.current) {
        best = entry;
      }
    }
    best.current -= total;
    return best.id;
  },
};
