import { z } from 'zod';
import { label } from './text.js';
import { Id, IsoTime } from './views.js';

export const ROLES = ['agent', 'analyst', 'admin'] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

export const CreateTokenRequest = z.strictObject({
  name: label(128),
  role: Role,
});
export type CreateTokenRequest = z.infer<typeof CreateTokenRequest>;

export const TokenCreated = z.strictObject({
  id: Id,
  name: z.string(),
  role: Role,
  /** Shown once; only its hash is stored. */
  token: z.string(),
});
export type TokenCreated = z.infer<typeof TokenCreated>;

/** A person's API token as `GET /v1/tokens` lists it (never the token itself; agents' keys are not listed). */
export const TokenView = z.strictObject({
  id: Id,
  name: z.string(),
  role: Role,
  createdAt: IsoTime,
  /** The id of the token that created it; null for the bootstrap admin token. */
  createdBy: Id.nullable(),
  revokedAt: IsoTime.nullable(),
});
export type TokenView = z.infer<typeof TokenView>;

/** `GET /v1/tokens`. */
export const TokenList = z.strictObject({ items: z.array(TokenView) });
export type TokenList = z.infer<typeof TokenList>;

/** Who made a request, after the bearer token was checked. */
export interface Principal {
  tokenId: string;
  role: Role;
  name: string;
  /** Set when the token is an enrolled agent's API key. */
  agentId?: string;
  /** For an enrolled agent: whether it currently consents to send data. */
  participating?: boolean;
  /**
   * How records outside the agents table name this caller: the agent's keyed pseudonym for an agent
   * key, the token's own for a person's token.
   */
  pseudonym: string;
  /** For an enrolled agent: its country (ISO 3166-1 alpha-2, if it gave one) and product "name version". */
  country?: string | null;
  productVersion?: string | null;
}

/** `GET /v1/me`: who the bearer token belongs to and which routes its role may call. */
export const WhoAmIView = z.strictObject({
  tokenId: Id,
  name: z.string(),
  role: Role,
  agentId: Id.nullable(),
  /** The routes this role may call, as the API document names them (`GET /v1/samples/{sha256}`). */
  permissions: z.array(z.string().regex(/^[A-Z]+ \/\S*$/)),
  /** The password of downloaded archives (DOWNLOAD_ZIP_PASSWORD) for a role that may download; else null. */
  downloadPassword: z.string().nullable(),
});
export type WhoAmIView = z.infer<typeof WhoAmIView>;
