import { fdatasyncSync } from 'node:fs';
import { type FileHandle, mkdir, open, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { lock } from './lock.js';

/** A submission this agent made, as `status` lists it. */
export interface SubmissionRecord {
  submissionId: string;
  sha256: string;
  name: string;
  submittedAt: string;
}

/** An unfinished resumable upload: its URL on the service and what it sends. */
export interface UploadRecord {
  url: string;
  /** The item's name (absent in an entry of a state written before it was kept). */
  name?: string;
}

/**
 * A multipart upload sent or about to be sent, with the `Idempotency-Key` every attempt of it carries: kept
 * until its submission is recorded, so a run killed after the service recorded it and before the answer
 * arrived leaves the key, and the next run that sends those bytes sends them under it again (the service
 * then answers with the submission it had recorded instead of recording another).
 */
export interface PostingRecord {
  key: string;
  name: string;
}

/** What the agent remembers between runs: uploads to resume and what it submitted. */
export interface AgentState {
  /** The agent these are of (absent in a state written before it was kept). */
  agentId?: string;
  /** Upload URLs of unfinished resumable uploads, by sha256. */
  uploads: Record<string, UploadRecord>;
  /** Multipart uploads whose submission is not recorded yet, by sha256 (absent in a state before them). */
  postings?: Record<string, PostingRecord>;
  submissions: SubmissionRecord[];
}

/**
 * One line of the journal. `submitted` also ends the upload of its sha256, if any; a submission id seen
 * twice (the same upload recorded by two runs) is kept once.
 */
type JournalRecord =
  | { t: 'agent'; agentId: string }
  | ({ t: 'upload'; sha256: string } & UploadRecord)
  | ({ t: 'posting'; sha256: string } & PostingRecord)
  | { t: 'drop'; sha256: string }
  | ({ t: 'submitted' } & SubmissionRecord);

/** The journal is compacted during a run once its dead records outweigh both this and its live ones. */
export const COMPACT_MIN_BYTES = 64 * 1024;

/** Records written without their own fsync are synced after at most this long, or this many records. */
const SYNC_DELAY_MS = 200;
const SYNC_EVERY = 64;

/** The state as its records replayed it, with how many of its bytes are still needed (live) and not. */
class Replayed {
  agentId: string | undefined;
  private agentBytes = 0;
  readonly uploads = new Map<string, { record: UploadRecord; bytes: number }>();
  readonly postings = new Map<string, { record: PostingRecord; bytes: number }>();
  readonly submissions: SubmissionRecord[] = [];
  private readonly submissionIds = new Set<string>();
  /** Complete lines applied, and their bytes. */
  count = 0;
  total = 0;
  /** Bytes of those lines a compaction would leave out. */
  dead = 0;

  get live(): number {
    return this.total - this.dead;
  }

  apply(record: JournalRecord, bytes: number): void {
    this.count += 1;
    this.total += bytes;
    switch (record.t) {
      case 'agent':
        this.dead += this.agentBytes;
        this.agentId = record.agentId;
        this.agentBytes = bytes;
        return;
      case 'upload': {
        this.dead += this.uploads.get(record.sha256)?.bytes ?? 0;
        const { url, name } = record;
        this.uploads.set(record.sha256, { record: name === undefined ? { url } : { url, name }, bytes });
        return;
      }
      case 'posting':
        this.dead += this.postings.get(record.sha256)?.bytes ?? 0;
        this.postings.set(record.sha256, { record: { key: record.key, name: record.name }, bytes });
        return;
      case 'drop':
        this.dead += (this.uploads.get(record.sha256)?.bytes ?? 0) + bytes;
        this.uploads.delete(record.sha256);
        this.forgetPosting(record.sha256);
        return;
      case 'submitted': {
        const upload = this.uploads.get(record.sha256);
        if (upload !== undefined) {
          this.dead += upload.bytes;
          this.uploads.delete(record.sha256);
        }
        this.forgetPosting(record.sha256);
        if (this.submissionIds.has(record.submissionId)) {
          this.dead += bytes;
          return;
        }
        this.submissionIds.add(record.submissionId);
        const { submissionId, sha256, name, submittedAt } = record;
        this.submissions.push({ submissionId, sha256, name, submittedAt });
        return;
      }
      default:
        // A record of a later version: left alone here, and out of the next compaction.
        this.dead += bytes;
    }
  }

  private forgetPosting(sha256: string): void {
    this.dead += this.postings.get(sha256)?.bytes ?? 0;
    this.postings.delete(sha256);
  }

  /** The fewest records that replay to this state. */
  records(): JournalRecord[] {
    return recordsOf(this.state());
  }

  state(): AgentState {
    return {
      ...(this.agentId === undefined ? {} : { agentId: this.agentId }),
      uploads: Object.fromEntries([...this.uploads].map(([sha256, { record }]) => [sha256, { ...record }])),
      ...(this.postings.size === 0
        ? {}
        : {
            postings: Object.fromEntries(
              [...this.postings].map(([sha256, { record }]) => [sha256, { ...record }]),
            ),
          }),
      submissions: this.submissions.map((s) => ({ ...s })),
    };
  }

  static of(state: AgentState): Replayed {
    const replayed = new Replayed();
    for (const record of recordsOf(state)) replayed.apply(record, line(record).length);
    return replayed;
  }
}

/** The records of a whole state (an old-format `state.json`, or what a test starts from). */
function recordsOf(state: AgentState): JournalRecord[] {
  return [
    ...(state.agentId === undefined ? [] : [{ t: 'agent' as const, agentId: state.agentId }]),
    ...(state.submissions ?? []).map((s) => ({ t: 'submitted' as const, ...s })),
    ...Object.entries(state.uploads ?? {}).map(([sha256, u]) => ({ t: 'upload' as const, sha256, ...u })),
    ...Object.entries(state.postings ?? {}).map(([sha256, p]) => ({ t: 'posting' as const, sha256, ...p })),
  ];
}

const line = (record: JournalRecord): Buffer => Buffer.from(`${JSON.stringify(record)}\n`);

/** Journals with records written but not yet synced: synced when the process exits (Ctrl-C included). */
const unsynced = new Set<StateJournal>();
process.on('exit', () => {
  for (const journal of unsynced) journal.syncNow();
});

/**
 * The agent's state as an append-only journal (`state.jsonl`, mode 0600): one JSON record a line, appended
 * under the state's lock file, so a change costs one short write whatever the state holds (the state was
 * one JSON document rewritten whole on every change: 840 KB after 3,000 submissions, 1.26 GB written by
 * the run that made them). A record of an upload URL is synced before any byte is sent to it; the others
 * are synced in groups (within 200 ms, and when the process exits). Replayed at start; a last line cut
 * short (a crash or power loss while it was written) is left out and, by the next writer, cut off.
 * Compacted by writing the live records to a temporary file, syncing it, renaming it over the journal and
 * syncing the folder: during a run once its dead records (finished uploads, records of later versions)
 * pass both 64 KiB and the live ones, and at the end of a run once they pass a quarter of them.
 *
 * Other processes append to the same journal (runs at once): each operation first reads what was appended
 * since (the file's tail), or all of it again when another process compacted it (another inode).
 */
export class StateJournal {
  private replayed = new Replayed();
  /** Inode of the journal replayed (-1: none). */
  private ino = -1;
  /** Bytes after the last complete line: a record being written, or one a crash cut short. */
  private torn = 0;
  private appender: { handle: FileHandle; ino: number } | null = null;
  private pendingSync = 0;
  private syncTimer: NodeJS.Timeout | null = null;
  /** Operations of this process, one at a time (they share the replayed state and offsets). */
  private queue: Promise<unknown> = Promise.resolve();
  /** What a person should know about the state (a record cut short and left out). */
  readonly notices: string[] = [];

  /**
   * @param path the journal (`state.jsonl`)
   * @param legacyPath the state of versions before the journal (`state.json`), migrated by the first write
   * @param remedy what to do when a record in the middle of the journal (or the legacy file) is damaged
   */
  constructor(
    readonly path: string,
    private readonly legacyPath: string,
    private readonly remedy: string,
  ) {}

  private get lockPath(): string {
    // The name the lock had beside state.json, so a run of an earlier version and this one exclude each other.
    return `${this.legacyPath}.lock`;
  }

  /**
   * The journal made ready for a run: migrated from the legacy state.json, and a last line a crash cut
   * short cut off (with a notice).
   */
  prepare(): Promise<void> {
    return this.locked(() => Promise.resolve());
  }

  /** The state, with what other processes appended since the last read; the journal is not written. */
  state(): Promise<AgentState> {
    return this.serial(async () => {
      if (await this.refresh()) return this.replayed.state();
      const legacy = await this.readLegacy();
      return legacy ?? { uploads: {}, submissions: [] };
    });
  }

  /** The upload kept for `sha256`, if any (read from the state as replayed: no whole read per call). */
  upload(sha256: string): Promise<UploadRecord | undefined> {
    return this.serial(async () => {
      if (await this.refresh()) return this.replayed.uploads.get(sha256)?.record;
      return (await this.readLegacy())?.uploads?.[sha256];
    });
  }

  /** The multipart upload of `sha256` whose submission is not recorded yet, if any. */
  posting(sha256: string): Promise<PostingRecord | undefined> {
    return this.serial(async () => {
      if (await this.refresh()) return this.replayed.postings.get(sha256)?.record;
      return undefined;
    });
  }

  /**
   * Appends `records` under the lock. `durable`: synced before this resolves (an upload URL, kept before
   * the first byte goes to it); else within SYNC_DELAY_MS.
   */
  append(records: JournalRecord[], durable = false): Promise<void> {
    return this.locked(async () => {
      await this.write(records, durable);
      if (this.replayed.dead > Math.max(COMPACT_MIN_BYTES, this.replayed.live)) await this.compact();
    });
  }

  /** `work` under the lock with the state as it is now; it may append with `write` and `replace`. */
  transaction<T>(
    work: (
      state: AgentState,
      ops: {
        write: (records: JournalRecord[]) => Promise<void>;
        replace: (state: AgentState) => Promise<void>;
        archive: (to: string) => Promise<void>;
      },
    ) => Promise<T>,
  ): Promise<T> {
    return this.locked(() =>
      work(this.replayed.state(), {
        write: (records) => this.write(records, true),
        replace: (state) => this.compact(Replayed.of(state)),
        archive: (to) => this.archive(to),
      }),
    );
  }

  /**
   * The end of a run: records synced, and the journal compacted when a quarter or more of it is dead
   * (a few finished uploads do not rewrite thousands of submissions).
   */
  close(): Promise<void> {
    return this.locked(async () => {
      if (this.replayed.dead > 0 && this.replayed.dead * 4 >= this.replayed.live) await this.compact();
      await this.sync();
      await this.closeAppender();
    });
  }

  /** Syncs what was appended and not yet synced, at once (the exit handler: no await there). */
  syncNow(): void {
    if (this.appender === null || this.pendingSync === 0) return;
    try {
      fdatasyncSync(this.appender.handle.fd);
    } catch {
      // Closed meanwhile: its records were synced by the close.
    }
    this.pendingSync = 0;
    unsynced.delete(this);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private locked<T>(work: () => Promise<T>): Promise<T> {
    return this.serial(async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const release = await lock(this.lockPath);
      try {
        await this.open();
        return await work();
      } finally {
        await release();
      }
    });
  }

  /**
   * Under the lock: the journal replayed to its end, migrated from the legacy state.json when there is
   * none yet, and a last line a crash cut short cut off (else the next record would be appended to it).
   */
  private async open(): Promise<void> {
    if (await this.refresh()) {
      const legacy = await this.readLegacy();
      if (legacy !== null) {
        // Left by a migration stopped before it removed it (the journal has it all), or written by an
        // earlier version run since: what only it has is added.
        const { submissions, uploads } = this.replayed;
        const known = new Set(submissions.map((s) => s.submissionId));
        await this.write(
          recordsOf(legacy).filter((r) =>
            r.t === 'submitted' ? !known.has(r.submissionId) : r.t === 'upload' && !uploads.has(r.sha256),
          ),
          true,
        );
        await rm(this.legacyPath, { force: true });
        await syncFolder(this.path);
      }
    } else {
      const legacy = await this.readLegacy();
      await this.compact(legacy === null ? new Replayed() : Replayed.of(legacy));
      if (legacy !== null) {
        await rm(this.legacyPath, { force: true });
        await syncFolder(this.path);
      }
    }
    if (this.torn > 0) {
      this.notices.push(
        `${this.path}: left out its last record, cut short (${this.torn} bytes; a run was stopped while writing it)`,
      );
      await truncate(this.path, this.offset);
      this.torn = 0;
    }
  }

  /** Reads what was appended since the last read (all of it after a compaction); false: no journal. */
  /** The end of the journal's last complete line replayed. */
  private get offset(): number {
    return this.replayed.total;
  }

  private async refresh(): Promise<boolean> {
    const now = await stat(this.path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (now === null) {
      this.reset(-1);
      return false;
    }
    if (now.ino !== this.ino || now.size < this.offset) this.reset(now.ino);
    if (now.size === this.offset + this.torn) return true;
    const handle = await open(this.path, 'r');
    let bytes: Buffer;
    try {
      bytes = Buffer.alloc(now.size - this.offset);
      let read = 0;
      while (read < bytes.length) {
        const { bytesRead } = await handle.read(bytes, read, bytes.length - read, this.offset + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      bytes = bytes.subarray(0, read);
    } finally {
      await handle.close();
    }
    let start = 0;
    for (let end = bytes.indexOf(0x0a); end !== -1; end = bytes.indexOf(0x0a, start)) {
      const text = bytes.toString('utf8', start, end);
      let record: JournalRecord;
      try {
        record = JSON.parse(text) as JournalRecord;
        if (typeof record !== 'object' || record === null) throw new Error('not a record');
      } catch (e) {
        throw new Error(
          `${this.path} is damaged (line ${this.replayed.count + 1}: ${e instanceof Error ? e.message : String(e)}): ${this.remedy}`,
          { cause: e },
        );
      }
      this.replayed.apply(record, end + 1 - start);
      start = end + 1;
    }
    this.torn = bytes.length - start;
    return true;
  }

  private reset(ino: number): void {
    this.replayed = new Replayed();
    this.ino = ino;
    this.torn = 0;
  }

  private readLegacy(): Promise<AgentState | null> {
    return readJson<AgentState>(this.legacyPath, this.remedy);
  }

  /** Under the lock, after `open`: appends `records` as one write. */
  private async write(records: JournalRecord[], durable: boolean): Promise<void> {
    if (records.length === 0) return;
    const lines = records.map(line);
    const handle = await this.appending();
    await handle.write(Buffer.concat(lines));
    for (const [i, record] of records.entries()) this.replayed.apply(record, lines[i]?.length ?? 0);
    this.pendingSync += records.length;
    unsynced.add(this);
    if (durable || this.pendingSync >= SYNC_EVERY) await this.sync();
    else this.syncTimer ??= setTimeout(() => void this.serial(() => this.sync()), SYNC_DELAY_MS).unref();
  }

  private async appending(): Promise<FileHandle> {
    if (this.appender?.ino === this.ino) return this.appender.handle;
    await this.closeAppender();
    const handle = await open(this.path, 'a', 0o600);
    this.appender = { handle, ino: (await handle.stat()).ino };
    if (this.appender.ino !== this.ino) throw new Error(`${this.path} changed while it was locked`);
    return handle;
  }

  private async sync(): Promise<void> {
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.appender === null || this.pendingSync === 0) return;
    await this.appender.handle.datasync().catch(() => undefined);
    this.pendingSync = 0;
    unsynced.delete(this);
  }

  private async closeAppender(): Promise<void> {
    await this.sync();
    const appender = this.appender;
    this.appender = null;
    await appender?.handle.close();
  }

  /** Under the lock: the journal rewritten as `replayed`'s live records (temporary file, sync, rename). */
  private async compact(replayed: Replayed = this.replayed): Promise<void> {
    const records = replayed.records();
    const lines = records.map(line);
    const tmp = `${this.path}.${process.pid}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(Buffer.concat(lines));
      await handle.chmod(0o600);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await this.closeAppender();
    await rename(tmp, this.path);
    await syncFolder(this.path);
    const fresh = new Replayed();
    for (const [i, record] of records.entries()) fresh.apply(record, lines[i]?.length ?? 0);
    this.replayed = fresh;
    this.ino = (await stat(this.path)).ino;
    this.torn = 0;
  }

  /** Under the lock: the journal moved to `to` (a rename: what it holds is not read again); a new one begins. */
  private async archive(to: string): Promise<void> {
    await this.closeAppender();
    await rename(this.path, to);
    await syncFolder(this.path);
    await this.compact(new Replayed());
  }
}

/** A rename or removal in the folder of `path` made durable (the folder's entry synced). */
async function syncFolder(path: string): Promise<void> {
  const folder = await open(dirname(path), 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/**
 * The document at `path`, or null when there is none. One that is not JSON (cut short by a full disk, edited
 * by hand) is named with what to do (`remedy`): the parser's words alone ("Unexpected end of JSON input")
 * said neither which file nor that every command would fail on it until it is dealt with.
 */
export async function readJson<T>(path: string, remedy: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${path} is damaged (${e instanceof Error ? e.message : String(e)}): ${remedy}`, {
      cause: e,
    });
  }
}
