import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
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
  /** Upload URLs of unfinished resumable uploads, by sha256. */
  uploads: Record<string, { url: string }>;
  submissions: Array<{ submissionId: string; sha256: string; name: string; submittedAt: string }>;
}

/** `$SPECIMEN_AGENT_HOME`, else `~/.specimen-agent`. */
export function agentHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.SPECIMEN_AGENT_HOME ?? join(homedir(), '.specimen-agent');
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
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
    const config = await readJson<AgentConfig>(this.configPath);
    if (config === null) throw new Error(`not enrolled: run "specimen-agent enroll" (no ${this.configPath})`);
    return config;
  }

  async saveConfig(config: AgentConfig): Promise<void> {
    await mkdir(this.home, { recursive: true, mode: 0o700 });
    await writeJson(this.configPath, config);
  }

  async state(): Promise<AgentState> {
    return (await readJson<AgentState>(this.statePath)) ?? { uploads: {}, submissions: [] };
  }

  async saveState(state: AgentState): Promise<void> {
    await mkdir(this.home, { recursive: true, mode: 0o700 });
    await writeJson(this.statePath, state);
  }

  /** Reads the state, lets `change` edit it, and saves it. */
  async updateState(change: (state: AgentState) => void): Promise<void> {
    const state = await this.state();
    change(state);
    await this.saveState(state);
  }
}
