import type { Role, WhoAmIView } from '#contracts';

/** The token lives in sessionStorage: gone when the tab closes, never sent anywhere but the API. */
export const TOKEN_KEY = 'specimen.console.token';

export const loadToken = (storage: Storage): string | null => storage.getItem(TOKEN_KEY);
export const saveToken = (storage: Storage, token: string): void => storage.setItem(TOKEN_KEY, token);
export const clearToken = (storage: Storage): void => storage.removeItem(TOKEN_KEY);

/** Who is signed in, as `GET /v1/me` described the token. */
export interface Identity {
  name: string;
  role: Role;
  tokenId: string;
  permissions: ReadonlySet<string>;
  /** The password of downloaded archives, for a role that may download. */
  downloadPassword: string | null;
}

export const identityOf = (me: WhoAmIView): Identity => ({
  name: me.name,
  role: me.role,
  tokenId: me.tokenId,
  permissions: new Set(me.permissions),
  downloadPassword: me.downloadPassword,
});

/** Whether the identity may call `route` (`METHOD /path/{param}` as the API document names it). */
export const may = (identity: Identity, route: string): boolean => identity.permissions.has(route);
