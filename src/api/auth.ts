// API keys (docs/design.md §3.1). A token is `tt_` + 32 random bytes in base64url; only SHA-256
// of it is stored, and a presented token is found by its hash and then compared in constant time.
// The admin token (TMUXTRAIL_ADMIN_TOKEN, or generated into <data>/admin.token) holds every scope.
//
//   no / unknown / revoked token → 401      valid token without the scope → 403
//
// Valid keys are cached for a short TTL (default 2 s) so the submit hot path does not query per
// request; a revocation takes effect at once in the process that revoked and within the TTL in
// every other process. Unknown tokens are never cached: each costs one lookup and leaves nothing
// behind (a cache entry per unknown token let 200,000 random tokens hold ~30 MB for good). Lookups
// pass through a gate the caller gives (http.ts: a per-address budget of failed ones), and
// concurrent lookups of one token are one lookup.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Sql } from "../db/sql.ts";
import { ApiError } from "./errors.ts";

export type Scope = "submit" | "read" | "admin";
export const SCOPES: readonly Scope[] = ["submit", "read", "admin"];

export interface Principal {
  /** Key id, or "admin" for the admin token. */
  id: string;
  name: string;
  scopes: Scope[];
  /** The host a submit key is bound to. */
  host: string | null;
}

export interface ApiKeyInfo {
  id: string;
  name: string;
  scopes: Scope[];
  host: string | null;
  created: string;
  revoked: string | null;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

export function newToken(): string {
  return `tt_${randomBytes(32).toString("base64url")}`;
}

/** Valid keys cached at most; past it the expired entries go, then the oldest. */
const MAX_CACHED = 1000;

/** What a database lookup of a token passes through (none for the admin token or a cached key). */
export interface LookupGate {
  /** Before the lookup; throws to refuse it. */
  before(): void;
  /** After it found a valid key. */
  found(): void;
}

const unknownToken = () =>
  new ApiError(401, "unauthorized", "unknown or revoked token", {
    "WWW-Authenticate": 'Bearer realm="tmuxtrail", error="invalid_token"',
  });

export class Auth {
  private readonly adminHash: Buffer;
  private cache = new Map<string, { p: Principal; until: number }>();
  private inflight = new Map<string, Promise<Principal | undefined>>();

  constructor(
    private readonly sql: Sql,
    adminToken: string,
    private readonly ttlMs = 2000,
  ) {
    if (!adminToken) throw new Error("the admin token must not be empty");
    this.adminHash = sha256(adminToken);
  }

  /** The principal of an Authorization header; throws 401 when it names no valid key. */
  async authenticate(header: string | undefined, gate?: LookupGate): Promise<Principal> {
    const m = header ? /^Bearer ([\x21-\x7e]{1,512})$/.exec(header) : null;
    if (!m) {
      throw new ApiError(401, "unauthorized", "missing or malformed bearer token", {
        "WWW-Authenticate": 'Bearer realm="tmuxtrail"',
      });
    }
    const hash = sha256(m[1]!);
    if (timingSafeEqual(hash, this.adminHash)) {
      return { id: "admin", name: "admin", scopes: ["admin", "read", "submit"], host: null };
    }
    const key = hash.toString("hex");
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.p;
    let lookup = this.inflight.get(key);
    const mine = lookup === undefined;
    if (!lookup) {
      gate?.before();
      lookup = this.find(hash).finally(() => this.inflight.delete(key));
      this.inflight.set(key, lookup);
    }
    const p = await lookup;
    if (!p) {
      this.cache.delete(key);
      throw unknownToken();
    }
    if (mine) {
      gate?.found();
      this.remember(key, p);
    }
    return p;
  }

  private async find(hash: Buffer): Promise<Principal | undefined> {
    const rows = await this.sql.query<{
      id: string;
      name: string;
      scopes: Scope[];
      host: string | null;
      token_hash: Uint8Array;
    }>(
      "SELECT id, name, scopes, host, token_hash FROM api_keys WHERE token_hash = $1 AND revoked_at IS NULL",
      [hash],
    );
    const r = rows[0];
    if (!r || !timingSafeEqual(Buffer.from(r.token_hash), hash)) return undefined;
    return { id: r.id, name: r.name, scopes: r.scopes, host: r.host };
  }

  private remember(key: string, p: Principal): void {
    const now = Date.now();
    this.cache.delete(key);
    this.cache.set(key, { p, until: now + this.ttlMs });
    if (this.cache.size <= MAX_CACHED) return;
    for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
    for (const k of this.cache.keys()) {
      if (this.cache.size <= MAX_CACHED) break;
      this.cache.delete(k);
    }
  }

  async create(name: string, scopes: Scope[], host: string | null) {
    const id = `k_${randomBytes(8).toString("hex")}`;
    const token = newToken();
    const rows = await this.sql.query<{ created_at: Date }>(
      "INSERT INTO api_keys (id, name, scopes, host, token_hash) VALUES ($1, $2, $3, $4, $5) RETURNING created_at",
      [id, name, scopes, host, sha256(token)],
    );
    return { id, name, scopes, host, token, created: rows[0]!.created_at.toISOString() };
  }

  async list(): Promise<ApiKeyInfo[]> {
    const rows = await this.sql.query<{
      id: string;
      name: string;
      scopes: Scope[];
      host: string | null;
      created_at: Date;
      revoked_at: Date | null;
    }>(
      "SELECT id, name, scopes, host, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
    );
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      scopes: r.scopes,
      host: r.host,
      created: r.created_at.toISOString(),
      revoked: r.revoked_at ? r.revoked_at.toISOString() : null,
    }));
  }

  /** Revokes a key; false when there is no such key. Already revoked keys stay revoked. */
  async revoke(id: string): Promise<boolean> {
    const rows = await this.sql.query<{ id: string }>("SELECT id FROM api_keys WHERE id = $1", [
      id,
    ]);
    if (rows.length === 0) return false;
    await this.sql.query(
      "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
      [id],
    );
    this.cache.clear();
    return true;
  }
}

export function requireScope(p: Principal, scope: Scope): void {
  if (!p.scopes.includes(scope) && !p.scopes.includes("admin")) {
    throw new ApiError(403, "forbidden", `this key lacks the "${scope}" scope`);
  }
}
