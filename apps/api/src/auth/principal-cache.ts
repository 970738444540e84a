import type { Principal } from '#contracts';

interface Entry {
  principal: Principal;
  expiresAt: number;
}

/**
 * Who a known bearer token is, by token hash, for `ttlMs`, at most `maxEntries` of them (least recently
 * used dropped first). Unknown tokens are never kept, so a new token works at once.
 *
 * A lookup that started before an invalidation must not store what it read (it may be the state just
 * replaced): callers take a {@link ticket} before they read and {@link set} refuses a ticket older than
 * the last invalidation. While {@link suspend}ed (nobody tells us about changes) nothing is kept or served.
 */
export class PrincipalCache {
  private readonly entries = new Map<string, Entry>();
  private generation = 0;
  private live = false;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Whether entries are served and kept: a TTL above 0 and someone telling us about changes. */
  get enabled(): boolean {
    return this.live && this.ttlMs > 0 && this.maxEntries > 0;
  }

  get(tokenHash: string): Principal | undefined {
    if (!this.enabled) return undefined;
    const entry = this.entries.get(tokenHash);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(tokenHash);
      return undefined;
    }
    // Map order is insertion order: re-inserting makes it the most recently used.
    this.entries.delete(tokenHash);
    this.entries.set(tokenHash, entry);
    return entry.principal;
  }

  /** Taken before reading the principal from the database; hand it to {@link set}. */
  ticket(): number {
    return this.generation;
  }

  set(tokenHash: string, principal: Principal, ticket: number): void {
    if (!this.enabled || ticket !== this.generation) return;
    this.entries.delete(tokenHash);
    this.entries.set(tokenHash, { principal, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  /** Drops the entries of one token, or of every token of an agent. */
  invalidate(change: { tokenId: string } | { agentId: string }): void {
    this.generation++;
    for (const [hash, { principal }] of this.entries) {
      if ('tokenId' in change ? principal.tokenId === change.tokenId : principal.agentId === change.agentId) {
        this.entries.delete(hash);
      }
    }
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }

  /** Changes may go unheard from now on: forget everything and keep nothing until {@link resume}. */
  suspend(): void {
    this.live = false;
    this.clear();
  }

  /** Changes are heard again. Clears too: some may have been missed before. */
  resume(): void {
    this.clear();
    this.live = true;
  }
}
