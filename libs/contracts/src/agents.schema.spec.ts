import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CountryCode,
  CreateEnrollmentTokenRequest,
  EnrollRequest,
  LookupItem,
  LookupRequest,
} from './agents.schema.js';
import { COUNTRY_CODES } from './countries.js';

const enroll = {
  enrollmentToken: 'spe_x',
  product: { name: 'agent', version: '1.0' },
  os: { family: 'linux', version: '6.1' },
};

/** A time a day from now (ISO 8601). */
const inADay = () => new Date(Date.now() + 86_400_000).toISOString();

describe('agent contracts', () => {
  it('enrollment tokens need exactly one of expiresAt and ttlSeconds, and a use limit', () => {
    assert.equal(CreateEnrollmentTokenRequest.safeParse({ ttlSeconds: 60, maxUses: 1 }).success, true);
    assert.equal(CreateEnrollmentTokenRequest.safeParse({ expiresAt: inADay(), maxUses: 1 }).success, true);
    for (const bad of [
      { maxUses: 1 },
      { ttlSeconds: 60, expiresAt: '2030-01-01T00:00:00Z', maxUses: 1 },
      { ttlSeconds: 60 },
      { ttlSeconds: 60, maxUses: 0 },
      { expiresAt: '2100-01-01T00:00:00Z', maxUses: 1 },
      { ttlSeconds: 366 * 24 * 3600 + 1, maxUses: 1 },
    ]) {
      assert.equal(CreateEnrollmentTokenRequest.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  it('enrollment takes product, OS and an optional ISO country, and nothing else', () => {
    assert.equal(EnrollRequest.parse({ ...enroll, country: 'fr' }).country, 'FR');
    for (const extra of [{ country: 'FRA' }, { hostname: 'pc-1' }, { user: 'alice' }, { ip: '10.0.0.1' }]) {
      assert.equal(EnrollRequest.safeParse({ ...enroll, ...extra }).success, false, JSON.stringify(extra));
    }
  });

  it('a country is an assigned ISO 3166-1 alpha-2 code (or XK), in any case', () => {
    assert.equal(COUNTRY_CODES.size, 250);
    for (const code of ['DE', 'gb', 'Aq', 'XK', 'ss', 'BQ', 'CW', 'SX', 'ZW']) {
      assert.equal(CountryCode.parse(code), code.toUpperCase());
    }
    // Private use, reserved, withdrawn, and CLDR's regions that are no countries.
    for (const code of ['XX', 'ZZ', 'QO', 'AA', 'EU', 'UN', 'SU', 'YU', 'AN', 'EZ', 'AC', 'xa']) {
      const result = CountryCode.safeParse(code);
      assert.equal(result.success, false, code);
      assert.match(result.error?.issues[0]?.message ?? '', /is not an assigned ISO 3166-1 alpha-2 code/);
    }
    assert.match(CountryCode.safeParse('uk').error?.issues[0]?.message ?? '', /United Kingdom is GB/);
    assert.match(
      CountryCode.safeParse('D3').error?.issues[0]?.message ?? '',
      /must be an ISO 3166-1 alpha-2/,
    );
  });

  it('lookups: up to 1,000 items, each checked on its own', () => {
    assert.equal(LookupRequest.safeParse({ items: new Array(1000).fill({}) }).success, true);
    assert.equal(LookupRequest.safeParse({ items: new Array(1001).fill({}) }).success, false);
    assert.equal(LookupRequest.safeParse({ items: [] }).success, false);
    assert.equal(LookupItem.parse({ sha256: 'AB'.repeat(32) }).sha256, 'ab'.repeat(32));
    assert.equal(LookupItem.safeParse({ sha256: 'ab'.repeat(31) }).success, false);
    assert.equal(LookupItem.safeParse({ sha256: 'ab'.repeat(32), kind: 'disk' }).success, false);
  });
});
