// The UI's access to the log's API: the read token lives in sessionStorage (gone with the tab) and
// travels as a bearer token. What verification trusts is pinned apart, in trust.ts.

const TOKEN = "tmuxtrail.token";

export const session = {
  token: () => sessionStorage.getItem(TOKEN),
  setToken: (t: string) => sessionStorage.setItem(TOKEN, t),
  clear: () => sessionStorage.removeItem(TOKEN),
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

/** What the log says about itself (GET /): suggestions only, never trusted for verification. */
export function logInfo(): Promise<{
  origin: string;
  verifierKey: string;
  witnesses?: string[];
  witnessQuorum?: number;
}> {
  return api("/", null);
}
