#!/usr/bin/env node
import { release } from 'node:os';
import { parseArgs } from 'node:util';
import { SpecimenClient, SpecimenClientError } from '#client';
import { CountryCode, SubmissionMetadata } from '#contracts';
import { AgentFiles, agentHome } from './config.js';
import { printable } from './printable.js';
import { Progress } from './progress.js';
import {
  type FileDigests,
  bufferSource,
  checkDumpPath,
  digestBuffer,
  digestFile,
  expandPaths,
  fileChanged,
  fileSource,
  rawArguments,
  argumentPath,
  readSectors,
} from './sources.js';
import {
  type Item,
  type ItemResult,
  bufferBlob,
  checksums,
  describeError,
  fileBlob,
  label,
  recoverUploads,
  submitItems,
} from './submit.js';
import { nodeFetch } from '#client-node';

const VERSION = '0.1.0';
const MiB = 1024 * 1024;

const USAGE = `specimen-agent: send suspicious files to a Specimen service

  specimen-agent enroll --server URL --enrollment-token TOKEN [--country CC]
  specimen-agent consent --participate | --withdraw [--statement-version V]
  specimen-agent submit PATH... [--json] [--resumable-threshold BYTES] [--chunk-size BYTES]
  specimen-agent submit --kind memory-region DUMP --pid N --image PATH --base-address 0x... --protection RWX
  specimen-agent submit --kind boot-record DEVICE --sectors N [--sector-size 512|4096] [--lba N]
  specimen-agent status [--json]

Config and state live in $SPECIMEN_AGENT_HOME (default ~/.specimen-agent), mode 0600.`;

/** The most bytes `submit --kind boot-record` reads: boot sectors and partition tables, not a disk image. */
const MAX_BOOT_RECORD_BYTES = 16 * MiB;

const OPTIONS = {
  server: { type: 'string' },
  'enrollment-token': { type: 'string' },
  country: { type: 'string' },
  participate: { type: 'boolean' },
  withdraw: { type: 'boolean' },
  'statement-version': { type: 'string', default: '1' },
  kind: { type: 'string', default: 'file' },
  json: { type: 'boolean', default: false },
  'resumable-threshold': { type: 'string', default: String(16 * MiB) },
  'chunk-size': { type: 'string', default: String(8 * MiB) },
  pid: { type: 'string' },
  image: { type: 'string' },
  'base-address': { type: 'string' },
  protection: { type: 'string' },
  sectors: { type: 'string', default: '1' },
  'sector-size': { type: 'string', default: '512' },
  lba: { type: 'string', default: '0' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * The command line, or exit 2 with what is wrong with it and the usage (an unknown option, an option
 * without its value, or a value that starts with a dash, which must be given as --option=-value).
 */
function parseCommandLine() {
  try {
    return parseArgs({ allowPositionals: true, options: OPTIONS, tokens: true });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`specimen-agent: ${message}\n\n${USAGE}\n`);
    // A script asking for --json gets its document, even when the rest of the line could not be read.
    if (process.argv.includes('--json')) usageDocument(message);
    process.exit(2);
  }
}

/** The `--json` answer to a command line that cannot run. */
function usageDocument(message: string): void {
  process.stdout.write(`${JSON.stringify({ error: { code: 'USAGE', message } })}\n`);
}

const { values, positionals, tokens } = parseCommandLine();

/** A command line the CLI cannot run (a missing or bad option or path): exit 2 with the usage. */
class UsageError extends Error {}

function integer(name: string, value: string | undefined, min = 0): number {
  const n = Number(value);
  if (value === undefined || !Number.isSafeInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer ≥ ${min}`);
  return n;
}

/**
 * The metadata as the service will check it, checked here first: a sample the service already has is
 * not sent, so without this a bad --base-address or --protection would pass unnoticed for a known dump.
 */
function checked(metadata: SubmissionMetadata): void {
  const result = SubmissionMetadata.safeParse(metadata);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || 'metadata'}: ${i.message}`);
    throw new UsageError(`the metadata would be refused: ${issues.join('; ')}`);
  }
}

function required(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

const files = new AgentFiles(agentHome());
const print = (human: string, json: unknown): void => {
  process.stdout.write(values.json ? `${JSON.stringify(json)}\n` : `${human}\n`);
};

async function client(): Promise<{ client: SpecimenClient; agentId: string; server: string }> {
  const config = await files.config();
  const progress = Progress.for(values.json);
  return {
    client: new SpecimenClient({
      baseUrl: config.server,
      token: config.apiKey,
      fetch: nodeFetch,
      onRetry: ({ delayMs, status, code }) =>
        progress.warn(`${code} (${status}): retrying in ${(delayMs / 1000).toFixed(1)} s`),
    }),
    agentId: config.agentId,
    server: config.server,
  };
}

async function enroll(): Promise<number> {
  const server = required('server', values.server);
  if (!URL.canParse(server) || !['http:', 'https:'].includes(new URL(server).protocol))
    throw new UsageError(
      `--server must be the service's http:// or https:// URL, not ${JSON.stringify(server)}`,
    );
  if (values.country !== undefined) {
    const country = CountryCode.safeParse(values.country);
    if (!country.success) throw new UsageError(`--country: ${country.error.issues[0]?.message}`);
  }
  const anonymous = new SpecimenClient({ baseUrl: server, fetch: nodeFetch });
  const enrolled = await anonymous.enroll({
    enrollmentToken: required('enrollment-token', values['enrollment-token']),
    product: { name: 'specimen-agent', version: VERSION },
    os: { family: process.platform, version: release() },
    ...(values.country === undefined ? {} : { country: values.country }),
  });
  const previous = await files.config().catch(() => null);
  await files.saveConfig({ server, agentId: enrolled.agentId, apiKey: enrolled.apiKey });
  const archived = await files.startState(enrolled.agentId, previous?.agentId);
  print(
    `enrolled as agent ${enrolled.agentId}` +
      (archived === null ? '' : `\nthe previous agent's submissions and uploads are kept in ${archived}`),
    { agentId: enrolled.agentId, server, ...(archived === null ? {} : { previousState: archived }) },
  );
  return 0;
}

async function consent(): Promise<number> {
  if (values.participate === values.withdraw)
    throw new UsageError('give exactly one of --participate and --withdraw');
  const { client: api } = await client();
  const view = await api.consent({
    participating: values.participate === true,
    statementVersion: values['statement-version'],
  });
  print(view.participating ? 'participating' : 'not participating (consent withdrawn)', view);
  return 0;
}

/**
 * The paths given to `submit`, each as the bytes it was given when those are not UTF-8 (see rawArguments).
 * `paths` are the positionals after the command, in order.
 */
function filePaths(paths: string[]): Array<string | Buffer> {
  const given = tokens.filter((t) => t.kind === 'positional').slice(1);
  const raw = rawArguments(process.argv.length - 2);
  return paths.map((path, i) => {
    const index = given[i]?.index;
    return argumentPath(path, index === undefined ? undefined : raw?.[index]);
  });
}

/** What to send, and the results of paths that will not be (passed over, or unreadable). */
async function items(paths: string[], progress: Progress): Promise<{ items: Item[]; unsent: ItemResult[] }> {
  const kind = values.kind;
  if (kind === 'file') {
    const { files: found, passedOver } = await expandPaths(filePaths(paths), { privateFolder: files.home });
    const unsent: ItemResult[] = passedOver.map((p) => ({
      name: p.path,
      action: p.failed ? 'failed' : 'skipped',
      error: p.reason,
    }));
    const out: Item[] = [];
    for (const [i, { path, name }] of found.entries()) {
      progress.update(`hashing ${label(name)}`, i, found.length);
      let digests: FileDigests;
      try {
        digests = await digestFile(path);
      } catch (e) {
        unsent.push({ name, action: 'failed', error: describeError(e) });
        continue;
      }
      if (digests.size === 0) {
        unsent.push({ name, action: 'skipped', error: 'empty: the service takes no empty files' });
        continue;
      }
      out.push({
        name,
        metadata: { kind: 'file', ...checksums(digests), filename: label(name) },
        source: fileSource(path, digests.size),
        blob: fileBlob(path, digests),
        changed: fileChanged(path, digests),
      });
    }
    progress.update('hashed', found.length, found.length);
    for (const r of unsent) progress.note(`${r.action.padEnd(8)} ${r.name}: ${r.error ?? ''}`);
    return { items: out, unsent };
  }
  const [path, ...rest] = paths;
  if (path === undefined || rest.length > 0) throw new UsageError(`--kind ${kind} takes exactly one path`);
  if (kind === 'memory-region') {
    // The options first: a missing or malformed one is said before the dump is read (checked with
    // stand-in checksums, then again with the real ones).
    const owner = { pid: integer('pid', values.pid), image: required('image', values.image) };
    const baseAddress = required('base-address', values['base-address']);
    const protection = required('protection', values.protection);
    checked({
      kind: 'memory-region',
      ...checksums({ sha256: '0'.repeat(64), sha1: '0'.repeat(40), md5: '0'.repeat(32), size: 1 }),
      filename: label(path),
      process: owner,
      baseAddress,
      regionSize: 1,
      protection,
    });
    await checkDumpPath(path, kind);
    const digests = await digestFile(path);
    const metadata: SubmissionMetadata = {
      kind: 'memory-region',
      ...checksums(digests),
      filename: label(path),
      process: owner,
      baseAddress,
      regionSize: digests.size,
      protection,
    };
    checked(metadata);
    return {
      items: [
        {
          name: path,
          metadata,
          source: fileSource(path, digests.size),
          blob: fileBlob(path, digests),
          changed: fileChanged(path, digests),
        },
      ],
      unsent: [],
    };
  }
  if (kind === 'boot-record') {
    const sectorSize = integer('sector-size', values['sector-size'], 512);
    if (sectorSize !== 512 && sectorSize !== 4096) throw new UsageError('--sector-size must be 512 or 4096');
    const lba = integer('lba', values.lba);
    if (!Number.isSafeInteger(lba * sectorSize)) throw new UsageError('--lba is beyond the end of any disk');
    const sectors = integer('sectors', values.sectors, 1);
    if (sectors * sectorSize > MAX_BOOT_RECORD_BYTES) {
      throw new UsageError(
        `--sectors ${sectors} of ${sectorSize} bytes is more than the ${MAX_BOOT_RECORD_BYTES / MiB} MiB a boot record may have`,
      );
    }
    await checkDumpPath(path, kind);
    const { bytes, scheme } = await readSectors(path, lba, sectors, sectorSize);
    const metadata: SubmissionMetadata = {
      kind: 'boot-record',
      ...checksums(digestBuffer(bytes)),
      device: label(path),
      lba,
      sectorSize,
      scheme,
    };
    return {
      items: [{ name: `${path}@${lba}`, metadata, source: bufferSource(bytes), blob: bufferBlob(bytes) }],
      unsent: [],
    };
  }
  throw new UsageError('--kind must be file, memory-region or boot-record');
}

async function submit(paths: string[]): Promise<number> {
  if (paths.length === 0) throw new UsageError('submit needs at least one path');
  // Checked before any file is read: a bad option is not found after hashing a whole folder.
  const options = {
    resumableThreshold: integer('resumable-threshold', values['resumable-threshold']),
    chunkSize: integer('chunk-size', values['chunk-size'], 1),
  };
  const { client: api } = await client();
  await files.prepare();
  const progress = Progress.for(values.json);
  const { items: toSend, unsent } = await items(paths, progress);
  const { results: sent, recovered, stopped } = await submitItems(api, files, toSend, options, progress);
  await files.close();
  const results = [...sent, ...unsent];
  const count = (action: ItemResult['action']) => results.filter((r) => r.action === action).length;
  const failed = count('failed');
  const skipped = count('skipped');
  const human = [
    ...recovered.map(
      (r) =>
        `${'recorded'.padEnd(8)} ${r.sha256.slice(0, 12).padEnd(12)} ${printable(r.name)} ` +
        '(sent by an earlier run that stopped before it recorded it)',
    ),
    ...results.map(
      (r) =>
        `${r.action.padEnd(8)} ${(r.sha256 ?? '-').slice(0, 12).padEnd(12)} ${printable(r.name)}` +
        (r.verdict === undefined ? '' : ` (${r.verdict})`) +
        (r.detail === undefined ? '' : ` (${r.detail})`) +
        (r.error === undefined ? '' : `: ${printable(r.error)}`),
    ),
  ].join('\n');
  const summary = `${results.length - failed - skipped} done, ${skipped} skipped, ${failed} failed`;
  const document = {
    results,
    ...(recovered.length === 0 ? {} : { recovered }),
    ...warnings(),
  };
  if (stopped === undefined) {
    print(`${human}\n${summary}`, document);
  } else {
    const { error, notSent } = stopped;
    const message = describeError(error);
    print(`${human}\n${summary}`, {
      ...document,
      error: { code: error.code, status: error.status, message },
    });
    process.stderr.write(
      `specimen-agent: stopped, ${notSent} not sent: ${printable(message)}\n` +
        'run the same command again to send the rest (what was sent is looked up as known; an unfinished upload resumes)\n',
    );
  }
  return failed === 0 ? 0 : 1;
}

/**
 * What a person should know about the state files (a record a crash cut short, left out): said on stderr,
 * and as `warnings` in a `--json` document (absent when there is none).
 */
function warnings(): { warnings?: string[] } {
  if (files.notices.length === 0) return {};
  for (const notice of files.notices) process.stderr.write(`specimen-agent: ${printable(notice)}\n`);
  return { warnings: [...files.notices] };
}

/** `work` for each of `items`, at most `limit` at once; results in their order. The first failure ends it. */
async function inParallel<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await work(items[i] as T);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Submissions `status` asks about at once (GET /v1/submissions/:id is not rate-limited). */
const STATUS_CONCURRENCY = 16;

async function status(): Promise<number> {
  const { client: api, agentId, server } = await client();
  // The service first: only then does a submission it answers 404 for mean one it deleted, not a wrong
  // server (or a proxy) answering 404 for everything. A revoked key fails here too (401).
  try {
    await api.me();
  } catch (e) {
    if (e instanceof SpecimenClientError && e.status === 404) {
      throw new Error(`${server} does not answer as a Specimen service (GET /v1/me: 404); check --server`, {
        cause: e,
      });
    }
    throw e;
  }
  await files.prepare();
  // Uploads an earlier run finished on the service without recording them are listed too.
  await recoverUploads(api, files);
  await files.close();
  const state = await files.state();
  // A few requests at once: one at a time, thousands of submissions took a request's round trip each.
  const submissions = await inParallel(state.submissions, STATUS_CONCURRENCY, async (s) => {
    try {
      const view = await api.submission(s.submissionId);
      return { ...s, status: view.status, verdict: view.verdict };
    } catch (e) {
      // A key the service no longer accepts (revoked agent) is the answer, not one unknown submission each.
      if (e instanceof SpecimenClientError && e.status === 401) throw e;
      // Its own submission not found: the service deleted it (the consent purge or the retention period).
      if (e instanceof SpecimenClientError && e.status === 404) {
        return {
          ...s,
          status: 'gone',
          verdict: null,
          error: 'the service no longer keeps it (consent withdrawn, or its retention period ended)',
        };
      }
      return { ...s, status: 'unknown', verdict: null, error: describeError(e) };
    }
  });
  const human = [
    `agent ${agentId} at ${server}`,
    `${Object.keys(state.uploads).length} unfinished uploads`,
    ...submissions.map(
      (s) =>
        `${s.status.padEnd(9)} ${String(s.verdict ?? '-').padEnd(10)} ${s.sha256.slice(0, 12)} ${printable(s.name)}` +
        ('error' in s ? `: ${printable(s.error)}` : ''),
    ),
  ].join('\n');
  print(human, {
    agentId,
    server,
    pendingUploads: Object.keys(state.uploads).length,
    submissions,
    ...warnings(),
  });
  return 0;
}

async function main(): Promise<number> {
  const [command, ...rest] = positionals;
  if (values.help === true || command === undefined) {
    const missing = command === undefined && values.help !== true;
    if (missing && values.json) {
      // The usage for a person (stderr); the document for the script.
      process.stderr.write(`${USAGE}\n`);
      usageDocument('a command is needed: enroll, consent, submit or status');
    } else {
      process.stdout.write(`${USAGE}\n`);
    }
    return missing ? 2 : 0;
  }
  switch (command) {
    case 'enroll':
      return enroll();
    case 'consent':
      return consent();
    case 'submit':
      return submit(rest);
    case 'status':
      return status();
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

// Ctrl-C, or SIGTERM (a supervisor, `timeout`): the upload state is saved as each upload URL is made, so a
// run can stop at once; on a terminal it first ends the progress bar's line, which the shell's prompt would
// otherwise continue. A script reading --json gets its document (it got nothing), and SIGTERM too goes
// through process.exit, which removes the state's lock file.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    if (process.stderr.isTTY) process.stderr.write('\n');
    if (values.json) {
      const message = `interrupted (${signal}): run the same command again to go on (an unfinished upload resumes)`;
      process.stdout.write(`${JSON.stringify({ error: { code: 'INTERRUPTED', message } })}\n`);
    }
    process.exit(code);
  });
}

// A reader that stops early (`specimen-agent status | head`) closes the pipe: what is left to print has no
// reader, which is no failure of the command (its exit code stands). Unhandled, the write's EPIPE ended the
// process with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const usage = e instanceof UsageError;
    process.stderr.write(`specimen-agent: ${describeError(e)}\n${usage ? `\n${USAGE}\n` : ''}`);
    // A script reading --json gets a document on a failure too.
    if (values.json) {
      const error =
        e instanceof SpecimenClientError
          ? { code: e.code, status: e.status, message: describeError(e) }
          : { code: usage ? 'USAGE' : 'FAILED', message: describeError(e) };
      process.stdout.write(`${JSON.stringify({ error })}\n`);
    }
    process.exitCode = usage ? 2 : 1;
  },
);
