// The UI's access to the log's API: the read token lives in sessionStorage (gone with the tab) and
// travels as a bearer token; the log's verifier key the user trusts is pinned in localStorage
// (public, but chosen by the user, so verification does not take the server's word for it).

const TOKEN = "tmuxtrail.token";
const LOG_KEY = "tmuxtrail.logKey";

export const session = {
  token: () => sessionStorage.getItem(TOKEN),
  setToken: (t: string) => sessionStorage.setItem(TOKEN, t),
  clear: () => sessionStorage.removeItem(TOKEN),
  logKey: () => localStorage.getItem(LOG_KEY),
  setLogKey: (k: string) => localStorage.setItem(LOG_KEY, k),
};

export class SignInNeeded extends Error {}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, token = session.token()): Promise<T> {
  const res = await fetch(path, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  if (res.status === 401 && token === session.token()) {
    session.clear();
    throw new SignInNeeded("the token is unknown or revoked: sign in again");
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiFailure(res.status, `${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const e = (body as { error?: { message?: string } }).error;
    throw new ApiFailure(res.status, e?.message ?? `HTTP ${res.status}`);
  }
  return body as T;
}

/** What the log says about itself (GET /): origin and verifier key. */
export function logInfo(): Promise<{ origin: string; verifierKey: string }> {
  return api("/", null);
}
