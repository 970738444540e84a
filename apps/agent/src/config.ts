import { randomUUID } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { chmod, link, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What `enroll` keeps: where the service is and who this agent is. */
export interface AgentConfig {
  server: string;
  agentId: string;
  apiKey: string;
}

/** What the agent remembers between runs: uploads to resume and what it submitted. */
export interface AgentState {
  /** The agent these are of (absent in a state written before it was kept). */
  agentId?: string;
  /** Upload URLs of unfinished resumable uploads, by sha256. */
  uploads: Record<string, { url: string }>;
  submissions: Array<{ submissionId: string; sha256: string; name: string; submittedAt: string }>;
}

/** `$SPECIMEN_AGENT_HOME`, else `~/.specimen-agent`. */
export function agentHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.SPECIMEN_AGENT_HOME ?? join(homedir(), '.specimen-agent');
}

/**
 * The document at `path`, or null when there is none. One that is not JSON (cut short by a full disk, edited
 * by hand) is named with what to do (`remedy`): the parser's words alone ("Unexpected end of JSON input")
 * said neither which file nor that every command would fail on it until it is dealt with.
 */
async function readJson<T>(path: string, remedy: string): Promise<T | null> {
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

/** Written whole and renamed into place, mode 0600: it holds the API key. */
async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

export class AgentFiles {
  constructor(readonly home: string) {}

  private get configPath(): string {
    return join(this.home, 'config.json');
  }

  private get statePath(): string {
    return join(this.home, 'state.json');
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

  async state(): Promise<AgentState> {
    const remedy =
      'move it aside to start afresh (the agent then forgets its unfinished uploads and the submissions "status" lists)';
    return (await readJson<AgentState>(this.statePath, remedy)) ?? { uploads: {}, submissions: [] };
  }

  async saveState(state: AgentState): Promise<void> {
    await mkdir(this.home, { recursive: true, mode: 0o700 });
    await writeJson(this.statePath, state);
  }

  /**
   * A fresh state for a newly enrolled agent. What another agent (the previous enrollment in this folder)
   * submitted is kept aside as `state.<its id>.json`, whose path is returned: under the new key the service
   * answers 404 for those submissions, which `status` showed as deleted, and their uploads cannot resume.
   */
  async startState(agentId: string, previousAgentId: string | undefined): Promise<string | null> {
    return this.withStateLocked(async (state) => {
      const owner = state.agentId ?? previousAgentId;
      const used = state.submissions.length > 0 || Object.keys(state.uploads).length > 0;
      if (owner === agentId || !used) {
        await this.saveState({ ...state, agentId });
        return null;
      }
      const archived = join(this.home, `state.${owner ?? `previous-${Date.now()}`}.json`);
      // Written aside first: stopped between the two writes, nothing is lost.
      await writeJson(archived, state);
      await this.saveState({ agentId, uploads: {}, submissions: [] });
      return archived;
    });
  }

  /**
   * Reads the state, lets `change` edit it, and saves it, holding the state's lock file meanwhile: two runs
   * at once (two folders submitted in parallel) each read, edited and renamed the whole file, and the last
   * one dropped what the other had added (submissions no longer in `status`, resumable uploads forgotten).
   */
  async updateState(change: (state: AgentState) => void): Promise<void> {
    await this.withStateLocked(async (state) => {
      change(state);
      await this.saveState(state);
    });
  }

  /** Forgets the upload URL kept for `sha256` (finished elsewhere, dropped by the service, or ended). */
  async dropUpload(sha256: string): Promise<void> {
    await this.updateState((state) => {
      delete state.uploads[sha256];
    });
  }

  /** `work` on the state as read under the state's lock file, which it holds until `work` is done. */
  private async withStateLocked<T>(work: (state: AgentState) => Promise<T>): Promise<T> {
    await mkdir(this.home, { recursive: true, mode: 0o700 });
    const release = await lock(`${this.statePath}.lock`);
    try {
      return await work(await this.state());
    } finally {
      await release();
    }
  }
}

/** A lock file older than this is left by a run that died holding it: taken over. */
const STALE_LOCK_MS = 30_000;

/** Lock files this process holds, removed when it exits, Ctrl-C (process.exit) included. */
const heldLocks = new Set<string>();
process.on('exit', () => {
  for (const path of heldLocks) {
    try {
      unlinkSync(path);
    } catch {
      // Gone already.
    }
  }
});

/**
 * Creates `path` exclusively (waiting while another process holds it); the release removes it. A lock whose
 * holder is gone (its pid, written inside, no longer runs) or that is older than STALE_LOCK_MS is taken
 * over by renaming it aside first: of two waiters that saw it stale only one rename succeeds, and one that
 * finds it moved a lock other than the stale one puts it back.
 */
async function lock(path: string): Promise<() => Promise<void>> {
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      heldLocks.add(path);
      return async () => {
        heldLocks.delete(path);
        await rm(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = await stat(path).catch(() => null);
    if (held !== null && (Date.now() - held.mtimeMs > STALE_LOCK_MS || !(await holderRuns(path)))) {
      const aside = `${path}.${process.pid}.${randomUUID()}`;
      const moved = await rename(path, aside).then(
        () => true,
        () => false,
      );
      if (moved) {
        const took = await stat(aside).catch(() => null);
        // Another waiter took it over first and this rename moved its fresh lock: back it goes.
        if (took !== null && took.ino !== held.ino) await link(aside, path).catch(() => undefined);
        await rm(aside, { force: true });
      }
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Whether the process whose pid the lock file holds still runs (true when it cannot be told). */
async function holderRuns(path: string): Promise<boolean> {
  const pid = Number(await readFile(path, 'utf8').catch(() => ''));
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
