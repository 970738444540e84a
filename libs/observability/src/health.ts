import type { CheckStatus, ReadinessView } from '#contracts';

/** What `/health/ready` answers (the schema is in libs/contracts). */
export type Readiness = ReadinessView;

/**
 * Runs every check at once, each bounded by `timeoutMs`: a dependency that hangs (a Redis that accepts
 * the connection but never answers) counts as failed instead of hanging the probe.
 */
export async function checkReadiness(
  checks: Record<string, () => Promise<unknown>>,
  timeoutMs: number,
): Promise<Readiness> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckStatus]> => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<CheckStatus>((resolve) => {
        timer = setTimeout(() => resolve('failed'), timeoutMs);
      });
      try {
        const probe = Promise.resolve()
          .then(check)
          .then((): CheckStatus => 'ok');
        probe.catch(() => undefined);
        return [name, await Promise.race([probe, deadline])];
      } catch {
        return [name, 'failed'];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const result = Object.fromEntries(entries);
  return { status: entries.every(([, s]) => s === 'ok') ? 'ok' : 'failed', checks: result };
}
