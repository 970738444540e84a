import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ConsoleApi, SpecimenClientError, errorMessage } from '../lib/api.js';
import { type Identity, clearToken, identityOf, loadToken, may, saveToken } from './session.js';

export type AuthState =
  | { status: 'checking' }
  | { status: 'signed-out'; error?: string }
  /** A kept token could not be checked (network error, 5xx): it stays kept until the service answers. */
  | { status: 'unreachable'; error: unknown }
  | { status: 'signed-in'; identity: Identity; api: ConsoleApi };

interface AuthValue {
  state: AuthState;
  signIn: (token: string) => Promise<void>;
  /** Checks the kept token again (after the service could not be reached). */
  retry: () => Promise<void>;
  signOut: () => void;
}

const AuthContext = createContext<AuthValue | null>(null);

export function AuthProvider({
  children,
  baseUrl,
  storage,
}: {
  children: ReactNode;
  baseUrl: string;
  storage: Storage;
}) {
  const [state, setState] = useState<AuthState>(() =>
    loadToken(storage) === null ? { status: 'signed-out' } : { status: 'checking' },
  );

  const signOut = useCallback(() => {
    clearToken(storage);
    setState({ status: 'signed-out' });
  }, [storage]);

  const check = useCallback(
    async (token: string, kept: boolean): Promise<void> => {
      const api = new ConsoleApi({
        token,
        baseUrl,
        onUnauthenticated: () => {
          clearToken(storage);
          setState({ status: 'signed-out', error: 'The token is unknown or was revoked: sign in again.' });
        },
      });
      try {
        const identity = identityOf(await api.me());
        saveToken(storage, token);
        setState({ status: 'signed-in', identity, api });
      } catch (e) {
        // Only the service saying the token is unknown or revoked forgets it: a reload while the service
        // or the network is down must not sign the person out.
        if (e instanceof SpecimenClientError && e.status === 401) {
          clearToken(storage);
          setState({ status: 'signed-out', error: 'That token is unknown or revoked.' });
        } else if (kept) {
          setState({ status: 'unreachable', error: e });
        } else {
          setState({ status: 'signed-out', error: errorMessage(e) });
        }
      }
    },
    [baseUrl, storage],
  );

  useEffect(() => {
    const token = loadToken(storage);
    if (token !== null) void check(token, true);
  }, [check, storage]);

  const value = useMemo<AuthValue>(
    () => ({
      state,
      signIn: async (token) => {
        setState({ status: 'checking' });
        await check(token.trim(), false);
      },
      retry: async () => {
        const token = loadToken(storage);
        if (token === null) return signOut();
        setState({ status: 'checking' });
        await check(token, true);
      },
      signOut,
    }),
    [state, check, signOut, storage],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const value = useContext(AuthContext);
  if (value === null) throw new Error('useAuth outside AuthProvider');
  return value;
}

/** The signed-in identity and API; only for components under the signed-in layout. */
export function useSession(): { identity: Identity; api: ConsoleApi; may: (route: string) => boolean } {
  const { state } = useAuth();
  if (state.status !== 'signed-in') throw new Error('useSession while signed out');
  const { identity, api } = state;
  return { identity, api, may: (route) => may(identity, route) };
}
