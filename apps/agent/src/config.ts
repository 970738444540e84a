import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  type AgentState,
  type PostingRecord,
  type SubmissionRecord,
  type UploadRecord,
  StateJournal,
  readJson,
} from './state.js';

export type { AgentState, SubmissionRecord, UploadRecord } from './state.js';

/** What `enroll` keeps: where the service is and who this agent is. */
export interface AgentConfig {
  server: string;
  agentId: string;
  apiKey: string;
}

/** `$SPECIMEN_AGENT_HOME`, else `~/.specimen-agent`. */
export function agentHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.SPECIMEN_AGENT_HOME ?? join(homedir(), '.specimen-agent');
}

/** Written whole and renamed into place, mode 0600: it holds the API key. */
async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

export class AgentFiles {
  /** The state: `state.jsonl`, an append-only journal (see StateJournal); `state.json` before it. */
  private readonly journal: StateJournal;

  constructor(readonly home: string) {
    this.journal = new StateJournal(
      join(home, 'state.jsonl'),
      join(home, 'state.json'),
      'move it aside to start afresh (the agent then forgets its unfinished uploads and the submissions "status" lists)',
    );
  }

  private get configPath(): string {
    return join(this.home, 'config.json');
  }

  async config(): Promise<AgentConfig> {
    const config = await readJson<AgentConfig>(this.configPath, 'enroll again ("specimen-agent enroll")');
    if (config === null) throw new Error(`not enrolled: run "specimen-agent enroll" (no ${this.configPath})`);
    return config;
  }

  async saveConfig(config: AgentConfig): Promise<void> {
    await mkdir(this.home, { recursive: true, mode: 0o700 });
    await writeJson(this.configPath, config);
  }

  /** The state made ready for a run (migrated from an old `state.json`, a record a crash cut short cut off). */
  prepare(): Promise<void> {
    return this.journal.prepare();
  }

  /** The whole state, as replayed (only what was appended since is read again). */
  state(): Promise<AgentState> {
    return this.journal.state();
  }

  /** The upload kept for `sha256`, to resume. */
  upload(sha256: string): Promise<UploadRecord | undefined> {
    return this.journal.upload(sha256);
  }

  /** Keeps the URL of an upload, synced before this resolves: it is made before the first byte is sent. */
  recordUpload(sha256: string, upload: UploadRecord): Promise<void> {
    return this.journal.append([{ t: 'upload', sha256, ...upload }], true);
  }

  /** The multipart upload of `sha256` an earlier attempt or run sent without recording its submission. */
  posting(sha256: string): Promise<PostingRecord | undefined> {
    return this.journal.posting(sha256);
  }

  /**
   * Keeps the idempotency key of a multipart upload before it is sent. Not synced at once: what a killed
   * process wrote stays in the page cache, and only a power loss within the sync delay loses it.
   */
  recordPosting(sha256: string, posting: PostingRecord): Promise<void> {
    return this.journal.append([{ t: 'posting', sha256, ...posting }]);
  }

  /** Keeps a submission made (its upload, if any, is finished and forgotten). */
  recordSubmission(submission: SubmissionRecord): Promise<void> {
    return this.journal.append([{ t: 'submitted', ...submission }]);
  }

  /**
   * Forgets the upload URL or idempotency key kept for `sha256` (finished elsewhere, dropped or refused by
   * the service, or ended).
   */
  dropUpload(sha256: string): Promise<void> {
    return this.journal.append([{ t: 'drop', sha256 }]);
  }

  /** Replaces the whole state (a test's starting point). */
  replaceState(state: AgentState): Promise<void> {
    return this.journal.transaction((_, { replace }) => replace(state));
  }

  /** The end of a run: what was recorded synced, and the journal compacted when much of it is dead. */
  close(): Promise<void> {
    return this.journal.close();
  }

  /** What a person should know about the state files (a record cut short by a crash, left out). */
  get notices(): readonly string[] {
    return this.journal.notices;
  }

  /**
   * A fresh state for a newly enrolled agent. What another agent (the previous enrollment in this folder)
   * submitted is kept aside as `state.<its id>.jsonl`, whose path is returned: under the new key the service
   * answers 404 for those submissions, which `status` showed as deleted, and their uploads cannot resume.
   */
  async startState(agentId: string, previousAgentId: string | undefined): Promise<string | null> {
    return this.journal.transaction(async (state, { write, archive }) => {
      const owner = state.agentId ?? previousAgentId;
      const used = state.submissions.length > 0 || Object.keys(state.uploads).length > 0;
      if (owner === agentId || !used) {
        if (state.agentId !== agentId) await write([{ t: 'agent', agentId }]);
        return null;
      }
      const archived = join(this.home, `state.${owner ?? `previous-${Date.now()}`}.jsonl`);
      // A rename: the journal is kept aside whole, and a new one begins (stopped between the two, the
      // folder holds no state, which is the new agent's fresh one but for its id).
      await archive(archived);
      await write([{ t: 'agent', agentId }]);
      return archived;
    });
  }
}
