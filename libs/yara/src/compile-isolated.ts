import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type CompileResult, loadRules } from './compile.js';
import { YaraError } from './yara-rules.js';
import type { CompileDiagnostic, CompileOptions, RuleSource } from './yara.types.js';

/** Bounds of one {@link compileRulesIsolated}. */
export interface CompileLimits {
  /** The compile (the whole quarantining search) is stopped after this long. */
  timeoutMs: number;
  /** The compiling process is stopped when its resident memory passes this (Linux; elsewhere unchecked). */
  maxMemoryMb: number;
}

/** @internal What the parent sends the compiling process. */
export interface ChildRequest {
  sources: RuleSource[];
  options: CompileOptions;
  outPath: string;
}

/** @internal What the compiling process answers. */
export type ChildAnswer =
  | {
      ok: true;
      /** The rules were written to the request's outPath (false when none compiled). */
      saved: boolean;
      diagnostics: CompileDiagnostic[];
      quarantined: string[];
      ruleCount: number;
    }
  | { ok: false; message: string; code: string };

const CHILD = fileURLToPath(new URL('./compile-child.js', import.meta.url));
/** How often the child's resident memory is read. */
const MEMORY_POLL_MS = 100;
/** The end of the child's standard error kept for the message when it dies. */
const STDERR_KEPT = 2048;
/** Compiles running at once in this process; the rest wait their turn (the wait is not part of the deadline). */
const MAX_RUNNING = 1;

let running = 0;
const waiting: Array<() => void> = [];

async function turn(): Promise<() => void> {
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    running--;
    waiting.shift()?.();
  };
}

/**
 * {@link compileRules} in a child process of its own, for rule text sent by people: libyara cannot stop a
 * compile once started, and some rules take minutes and gigabytes to compile (thousands of `xor` or
 * `nocase` strings, each expanded into every variant's atoms), which would hold a core, a thread-pool slot
 * and the process's memory long after the request gave up. Here such a compile ends at `limits`: the child
 * is killed and the promise rejects with a {@link YaraError} whose code is `YARA_ERROR_COMPILE_TIMEOUT` or
 * `YARA_ERROR_COMPILE_MEMORY`; a compiler process that could not start or died without answering is
 * `YARA_ERROR_COMPILER_FAILED` (not the rules' fault as far as anyone can tell). The rules come back through a file the child writes (yr_rules_save) and
 * this process loads. One compile runs at a time per process; a fork costs some 50-100 ms, nothing next to
 * a compile worth isolating.
 */
export async function compileRulesIsolated(
  sources: RuleSource[],
  options: CompileOptions,
  limits: CompileLimits,
): Promise<CompileResult> {
  const release = await turn();
  const dir = await mkdtemp(join(tmpdir(), 'specimen-compile-'));
  try {
    const outPath = join(dir, 'rules.yarc');
    const answer = await runChild({ sources, options, outPath }, limits);
    if (!answer.ok) throw new YaraError(answer.message, answer.code);
    return {
      rules: answer.saved ? loadRules(outPath) : null,
      diagnostics: answer.diagnostics,
      quarantined: answer.quarantined,
      ruleCount: answer.ruleCount,
    };
  } finally {
    release();
    await rm(dir, { recursive: true, force: true });
  }
}

function runChild(request: ChildRequest, limits: CompileLimits): Promise<ChildAnswer> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [], {
      // Not the parent's flags (a --cpu-prof or --inspect of the API has no business here).
      execArgv: [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      stderr = (stderr + text).slice(-STDERR_KEPT);
    });
    let settled = false;
    const finish = (outcome: { answer: ChildAnswer } | { error: Error }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearInterval(memory);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if ('answer' in outcome) resolve(outcome.answer);
      else reject(outcome.error);
    };
    const deadline = setTimeout(() => {
      finish({
        error: new YaraError(
          `the rules did not compile within ${seconds(limits.timeoutMs)}`,
          'YARA_ERROR_COMPILE_TIMEOUT',
        ),
      });
    }, limits.timeoutMs);
    const memory = setInterval(() => {
      void residentMb(child).then((mb) => {
        if (mb !== null && mb > limits.maxMemoryMb) {
          finish({
            error: new YaraError(
              `compiling the rules took more than ${limits.maxMemoryMb} MB of memory`,
              'YARA_ERROR_COMPILE_MEMORY',
            ),
          });
        }
      });
    }, MEMORY_POLL_MS);
    child.once('message', (answer: ChildAnswer) => finish({ answer }));
    child.once('error', (error) => {
      finish({
        error: new YaraError(`could not start the compiler process: ${error.message}`, 'YARA_ERROR'),
      });
    });
    // 'close', not 'exit': by then every message the child sent has been delivered.
    child.once('close', (code, signal) => {
      const how = signal === null ? `with code ${code}` : `by signal ${signal}`;
      const said = stderr.trim() === '' ? '' : `: ${stderr.trim()}`;
      finish({
        error: new YaraError(`the compiler process ended ${how}${said}`, 'YARA_ERROR_COMPILER_FAILED'),
      });
    });
    child.send(request);
  });
}

/** The child's resident set in MB (VmRSS), or null where that cannot be read (it ended, or no procfs). */
async function residentMb(child: ChildProcess): Promise<number | null> {
  if (child.pid === undefined) return null;
  try {
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}
