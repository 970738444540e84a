import { type DependencyList, useCallback, useEffect, useRef, useState } from 'react';

export interface AsyncState<T> {
  /** The latest answer, kept while a newer request is in flight (see `stale`). */
  data: T | undefined;
  /** The failure of the latest request, once it failed (none while a newer one is in flight). */
  error: unknown;
  /** A request is in flight: the first load, a load for new deps, or a reload. */
  loading: boolean;
  /** `data` answered other deps than the current ones (another page, another window): it is old. */
  stale: boolean;
  /** Loads again (after an action changed what is shown). */
  reload: () => void;
}

const sameKey = (a: readonly unknown[] | undefined, b: readonly unknown[]): boolean =>
  a !== undefined && a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

/**
 * Runs `load` when `deps` change and keeps its latest answer; an answer that arrives after a newer
 * request started is dropped, so a slow old search never overwrites a newer one. `loading` and `stale`
 * are derived in the render where `deps` change, so a button disabled while loading is disabled at once.
 */
export function useAsync<T>(load: () => Promise<T>, deps: DependencyList): AsyncState<T> {
  const [tick, setTick] = useState(0);
  const [answer, setAnswer] = useState<{ data: T; deps: readonly unknown[] } | undefined>(undefined);
  const [settled, setSettled] = useState<{ key: readonly unknown[]; error: unknown } | undefined>(undefined);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const key = [...deps, tick];

  useEffect(() => {
    const mine = ++generation.current;
    const requested = key;
    loadRef.current().then(
      (value) => {
        if (generation.current !== mine) return;
        setAnswer({ data: value, deps: requested.slice(0, -1) });
        setSettled({ key: requested, error: undefined });
      },
      (e: unknown) => {
        if (generation.current !== mine) return;
        setSettled({ key: requested, error: e });
      },
    );
    // The caller's deps decide when to load again; `load` itself is read through a ref.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, key);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  const current = sameKey(settled?.key, key);
  return {
    data: answer?.data,
    error: current ? settled?.error : undefined,
    loading: !current,
    stale: answer !== undefined && !sameKey(answer.deps, deps),
    reload,
  };
}
