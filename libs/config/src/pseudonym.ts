import { createHmac } from 'node:crypto';

/**
 * The keyed pseudonym that stands for an agent (or a person's token) everywhere outside the agents
 * table: HMAC-SHA256 of its id under `PSEUDONYM_KEY`, hex. Stable, so an agent's sightings can be
 * counted and purged; without the key it cannot be traced back to the agent's id.
 */
export function pseudonym(key: string, id: string): string {
  return createHmac('sha256', key).update(id, 'utf8').digest('hex');
}
