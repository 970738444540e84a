// The console's build (`npm run build` → dist/console, served by the API at /) and dev server
// (`npm run dev:console`, proxying the API so the console stays same-origin as in production).
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { precompress } from './precompress.js';

const root = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));
const api = process.env.SPECIMEN_API_URL ?? 'http://127.0.0.1:3000';

export default defineConfig({
  root,
  plugins: [react(), precompress()],
  resolve: {
    // The same libraries the API and the agent use, from their sources (no node: import on this path).
    alias: {
      '#client': `${repo}libs/client/src/index.ts`,
      '#contracts': `${repo}libs/contracts/src/index.ts`,
    },
  },
  build: {
    outDir: `${repo}dist/console`,
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: Object.fromEntries(['/v1', '/docs', '/health', '/metrics'].map((p) => [p, { target: api }])),
  },
});
