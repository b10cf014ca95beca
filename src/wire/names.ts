// Counter names and one-line help for the numeric codes the engines count by
// (drop reasons, events, per-engine counters). Each engine writes one table
// keyed like its code object, so a code without a name and a help text is a
// compile error; the counter registry (src/service/counters.ts) exports every
// entry of these tables, so a code added to an engine shows up everywhere
// without another edit.
//
//   export const Fruit = { Apple: 0, Pear: 1 } as const;
//   const FRUIT = describeCodes(Fruit, { Apple: ['apple', 'Apples eaten.'], Pear: ['pear', 'Pears eaten.'] });
//   FRUIT.names[Fruit.Pear] === 'pear'

/** Counter name (kebab-case) and one-line help for each key of a code object. */
export type Described<C> = { readonly [K in keyof C]: readonly [name: string, help: string] };

/** Names and help texts indexed by code (minus the table's first code). */
export interface CodeNames {
  readonly names: readonly string[];
  readonly help: readonly string[];
}

/**
 * Lays `described` out by code: names[code - first], help[code - first].
 * The codes must run first, first + 1, ... without a gap (checked: a gap
 * would leave a counter nameless).
 */
export function describeCodes<C extends Readonly<Record<string, number>>>(codes: C, described: Described<C>, first = 0): CodeNames {
  const keys = Object.keys(codes) as (keyof C & string)[];
  const names: string[] = new Array<string>(keys.length);
  const help: string[] = new Array<string>(keys.length);
  for (const key of keys) {
    const i = codes[key]! - first;
    if (!(i >= 0 && i < keys.length) || names[i] !== undefined) throw new Error(`${key}: code ${codes[key]} is not in ${first}..${first + keys.length - 1} or is taken twice`);
    [names[i], help[i]] = described[key];
  }
  return { names, help };
}
