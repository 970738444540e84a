/**
 * Puts `String.prototype` back into V8's fast-properties mode.
 *
 * ioredis 6 defines `class VerbatimString extends String` (its RESP3 verbatim strings) when it loads. In
 * Node 24's V8, extending `String` turns `String.prototype` into a dictionary-mode object, and nothing in a
 * program that only calls methods on string primitives turns it back: from then on every `s.charCodeAt(i)`,
 * `s.slice(…)` or `s.startsWith(…)` in the process goes through a generic property lookup. Measured here:
 * 64 `charCodeAt` calls over each of 1,000 hashes took 0.22–0.31 ms without ioredis loaded, 0.90–1.31 ms with
 * it, and 0.22 ms with it after this function; the API's hash check in a lookup and the scanner's text
 * heuristics are such loops.
 *
 * One property load through an inline cache on an ordinary object whose prototype is `String.prototype`
 * makes V8 turn the prototype chain of that object fast again (`MakePrototypesFast`), as it does for any
 * prototype in use. test/runtime.e2e.ts checks both the slowdown and this repair, so an ioredis or Node
 * release that no longer needs it will show.
 */
export function restoreFastStringPrototype(): void {
  const probe = Object.setPrototypeOf({ probe: true }, String.prototype) as { charCodeAt?: unknown };
  const load = (object: { charCodeAt?: unknown }): unknown => object.charCodeAt;
  // A function gets its inline caches only after some calls (V8 allocates feedback lazily: 16 calls were
  // needed here, 9 were not); a thousand cost microseconds, once.
  for (let i = 0; i < 1000; i++) load(probe);
}
