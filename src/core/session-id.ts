// The opaque id of a tmux session in the API (docs/design.md §2.3): a session is (host, server,
// session), named by the first 16 bytes of SHA-256(host 0x00 server 0x00 session) in base64url
// (22 characters), so any client can compute it from an event without asking the log.

import { utf8Encode } from "./encoding.ts";
import { sha256 } from "./hash.ts";

export function sessionId(host: string, server: string, session: string): string {
  const d = sha256(utf8Encode(`${host}\u0000${server}\u0000${session}`)).subarray(0, 16);
  let bin = "";
  for (const b of d) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export const SESSION_ID_RE = /^[A-Za-z0-9_-]{22}$/;
