// `npm start`: the API and the scanner on one machine, as two processes (as in production), stopped together.
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_NODE_FLAGS } from './node-flags.js';

const here = dirname(fileURLToPath(import.meta.url));
const roles = {
  api: { entry: join(here, 'api', 'src', 'main.js'), execArgv: [...API_NODE_FLAGS] },
  scanner: { entry: join(here, 'scanner', 'src', 'main.js'), execArgv: [] },
};
const children = new Map<string, ChildProcess>();
let stopping = false;

function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const child of children.values()) child.kill('SIGTERM');
  setTimeout(() => process.exit(code), 30_000).unref();
  const wait = [...children.values()].map(
    (c) => new Promise((r) => (c.exitCode === null ? c.once('exit', r) : r(null))),
  );
  void Promise.all(wait).then(() => process.exit(code));
}

for (const [role, { entry, execArgv }] of Object.entries(roles)) {
  const child = fork(entry, { stdio: 'inherit', execArgv });
  children.set(role, child);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${role} exited (${signal ?? code}); stopping the others`);
      stop(code ?? 1);
    }
  });
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
