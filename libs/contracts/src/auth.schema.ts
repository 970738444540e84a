import { z } from 'zod';
import { label } from './text.js';

export const ROLES = ['agent', 'analyst', 'admin'] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

export const CreateTokenRequest = z.strictObject({
  name: label(128),
  role: Role,
});
export type CreateTokenRequest = z.infer<typeof CreateTokenRequest>;

export interface TokenCreated {
  id: string;
  name: string;
  role: Role;
  /** Shown once; only its hash is stored. */
  token: string;
}

/** A person's API token as `GET /v1/tokens` lists it (never the token itself; agents' keys are not listed). */
export interface TokenView {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  /** The id of the token that created it; null for the bootstrap admin token. */
  createdBy: string | null;
  revokedAt: string | null;
}

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
export interface WhoAmIView {
  tokenId: string;
  name: string;
  role: Role;
  agentId: string | null;
  /** The routes this role may call, as the API document names them (`GET /v1/samples/{sha256}`). */
  permissions: string[];
  /** The password of downloaded archives (DOWNLOAD_ZIP_PASSWORD) for a role that may download; else null. */
  downloadPassword: string | null;
}
