import './test/dom.js';
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { Page, SampleSummary, WhoAmIView } from '#contracts';
import { App } from './App.js';
import { TOKEN_KEY } from './auth/session.js';

const SHA = '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f';
const ANALYST: WhoAmIView = {
  tokenId: 't-1',
  name: 'ana',
  role: 'analyst',
  agentId: null,
  permissions: [
    'GET /v1/me',
    'GET /v1/samples',
    'GET /v1/samples/{sha256}',
    'GET /v1/rulesets',
    'GET /v1/rulesets/{id}',
  ],
  downloadPassword: null,
};
const AGENT: WhoAmIView = {
  tokenId: 't-2',
  name: 'laptop',
  role: 'agent',
  agentId: 'a-1',
  permissions: ['GET /v1/me'],
  downloadPassword: null,
};
const SAMPLE: SampleSummary = {
  sha256: SHA,
  sha1: '3395856ce81f2b7382dee72602f798b642f14140',
  md5: '44d88612fea8a8f36de82e1278abb02f',
  size: 68,
  kind: 'file',
  firstSeen: '2026-01-01T12:00:00.000Z',
  lastSeen: '2026-01-02T12:00:00.000Z',
  sightings: 2,
  scanStatus: 'scanned',
  verdict: 'malicious',
};

/** The API as the console sees it: tokens `good`, `agent`; anything else is unknown. */
function fakeApi(calls: string[]): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    calls.push(`${init?.method ?? 'GET'} ${url.pathname}${url.search}`);
    const auth = new Headers(init?.headers).get('authorization');
    const json = (status: number, body: unknown) =>
      Promise.resolve(
        new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }),
      );
    const who = auth === 'Bearer good' ? ANALYST : auth === 'Bearer agent' ? AGENT : null;
    if (who === null)
      return json(401, { error: { code: 'UNAUTHENTICATED', message: 'the token is unknown or revoked' } });
    if (url.pathname === '/v1/me') return json(200, who);
    if (url.pathname === '/v1/samples') {
      // Two pages: the first one points at the second with a cursor.
      const second = url.searchParams.get('cursor') === 'page2';
      const body: Page<SampleSummary> = second
        ? { items: [{ ...SAMPLE, sha256: SHA.replace(/^2/, '3') }], nextCursor: null }
        : { items: [SAMPLE], nextCursor: 'page2' };
      return json(200, body);
    }
    return json(404, { error: { code: 'NOT_FOUND', message: 'no such route' } });
  };
}

describe('console app (components)', () => {
  let calls: string[];

  beforeEach(() => {
    calls = [];
    globalThis.fetch = fakeApi(calls);
    sessionStorage.clear();
    window.history.replaceState(null, '', '/');
  });
  afterEach(() => cleanup());

  const mount = () => render(<App baseUrl="http://console.test" storage={sessionStorage} />);
  const signIn = (token: string) => {
    fireEvent.change(screen.getByLabelText('API token'), { target: { value: token } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
  };

  it('refuses an unknown token and keeps nothing', async () => {
    mount();
    signIn('nope');
    const alert = await screen.findByTestId('sign-in-error');
    assert.match(alert.textContent ?? '', /unknown or revoked/);
    assert.equal(sessionStorage.getItem(TOKEN_KEY), null);
  });

  it("signs in, shows the role's navigation and the samples, and signs out", async () => {
    mount();
    signIn('good');
    await screen.findByTestId('sign-out');
    assert.equal(sessionStorage.getItem(TOKEN_KEY), 'good');
    const nav = within(screen.getByRole('navigation', { name: 'Main' }));
    assert.ok(nav.getByText('Samples'));
    assert.ok(nav.getByText('Rules'));
    assert.equal(nav.queryByText('Admin'), null);
    // `/` opens the first page the role has: the samples search.
    const row = await screen.findByTestId('sample-row');
    assert.equal(row.getAttribute('data-sha256'), SHA);
    assert.equal(window.location.pathname, '/samples');
    assert.ok(calls.includes('GET /v1/samples?sort=firstSeen&order=desc&limit=50'), calls.join('\n'));

    // Sorting by size goes into the URL and into the API query.
    fireEvent.click(screen.getByTestId('sort-size'));
    await waitFor(() => assert.equal(window.location.search, '?sort=size'));
    await waitFor(() =>
      assert.ok(calls.includes('GET /v1/samples?sort=size&order=desc&limit=50'), calls.join('\n')),
    );

    // Cursor paging: Next asks for the cursor the API gave and keeps it in the URL; Previous goes back.
    fireEvent.click(screen.getByTestId('page-next'));
    await waitFor(() => assert.equal(new URLSearchParams(window.location.search).get('cursor'), 'page2'));
    await waitFor(() =>
      assert.equal(screen.getByTestId('sample-row').getAttribute('data-sha256'), SHA.replace(/^2/, '3')),
    );
    assert.ok(calls.some((c) => c.includes('cursor=page2')));
    assert.equal(screen.getByTestId<HTMLButtonElement>('page-next').disabled, true);
    fireEvent.click(screen.getByTestId('page-previous'));
    await waitFor(() => assert.equal(new URLSearchParams(window.location.search).get('cursor'), null));
    await waitFor(() => assert.equal(screen.getByTestId('sample-row').getAttribute('data-sha256'), SHA));

    fireEvent.click(screen.getByTestId('sign-out'));
    await screen.findByLabelText('API token');
    assert.equal(sessionStorage.getItem(TOKEN_KEY), null);
  });

  it('keeps the old page covered while the next one loads, with paging disabled until it arrives', async () => {
    const working = globalThis.fetch;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    globalThis.fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.includes('cursor=page2')) await held;
      return working(input, init);
    };
    mount();
    signIn('good');
    await screen.findByTestId('sample-row');
    const next = screen.getByTestId<HTMLButtonElement>('page-next');
    fireEvent.click(next);
    await waitFor(() => assert.equal(new URLSearchParams(window.location.search).get('cursor'), 'page2'));
    // Page 1 is still shown, covered, and neither a second Next nor Previous can be clicked yet.
    assert.equal(screen.getByTestId('sample-row').getAttribute('data-sha256'), SHA);
    assert.ok(screen.getByTestId('samples-table').closest('[data-stale]'), 'the old rows are marked stale');
    assert.equal(screen.getByTestId<HTMLButtonElement>('page-next').disabled, true);
    assert.equal(screen.getByTestId<HTMLButtonElement>('page-previous').disabled, true);
    release();
    await waitFor(() =>
      assert.equal(screen.getByTestId('sample-row').getAttribute('data-sha256'), SHA.replace(/^2/, '3')),
    );
    assert.equal(screen.getByTestId('samples-table').closest('[data-stale]'), null);
    assert.equal(screen.getByTestId<HTMLButtonElement>('page-previous').disabled, false);
  });

  it('keeps the token when the service cannot be reached at a reload, and goes on when it answers', async () => {
    sessionStorage.setItem(TOKEN_KEY, 'good');
    const working = globalThis.fetch;
    for (const down of [
      (): Promise<Response> => Promise.reject(new TypeError('Failed to fetch')),
      (): Promise<Response> =>
        Promise.resolve(
          new Response(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'down for a moment' } }), {
            status: 503,
            headers: { 'content-type': 'application/json' },
          }),
        ),
    ]) {
      globalThis.fetch = down;
      mount();
      const alert = await screen.findByTestId('unreachable');
      assert.match(alert.textContent ?? '', /Cannot reach the service/);
      assert.equal(sessionStorage.getItem(TOKEN_KEY), 'good');
      globalThis.fetch = working;
      fireEvent.click(screen.getByTestId('unreachable-retry'));
      await screen.findByTestId('sign-out');
      assert.equal(sessionStorage.getItem(TOKEN_KEY), 'good');
      cleanup();
    }
    // A revoked token is forgotten at a reload.
    sessionStorage.setItem(TOKEN_KEY, 'revoked');
    mount();
    const refused = await screen.findByTestId('sign-in-error');
    assert.match(refused.textContent ?? '', /unknown or revoked/);
    assert.equal(sessionStorage.getItem(TOKEN_KEY), null);
  });

  it('tells a role without console pages so, and resumes a session from sessionStorage', async () => {
    sessionStorage.setItem(TOKEN_KEY, 'agent');
    mount();
    await screen.findByText(/The agent role has no page in this console/);
    assert.equal(screen.getByTestId('role').textContent, 'agent');
  });
});
