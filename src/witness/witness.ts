// Assembles a running witness: its own storage (PGlite in <data>/db, or PostgreSQL), its key, the
// logs it follows, the HTTP API, active polling of logs with a URL (which also keeps their hash
// tiles), and gossip with peers whose uncompared heads hold cosigning past the reconcile deadline.

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import {
  cosignatureVerifierKey,
  generateKey,
  parseLogVerifierKey,
  parseSignerKey,
} from "../core/keys.ts";
import { WITNESS_MIGRATIONS } from "../db/migrate.ts";
import { openStorage } from "../db/storage.ts";
import { listen } from "../lib/listen.ts";
import { nodeHasher } from "../lib/node-hasher.ts";
import { postWebhook } from "../lib/webhook.ts";
import type { WitnessDeps, WitnessedLog } from "./add-checkpoint.ts";
import { witnessApp } from "./app.ts";
import { verifyEvidence } from "./evidence.ts";
import { followLog, gossipWith } from "./gossip.ts";
import { witnessMetrics } from "./metrics.ts";
import { listEvidence } from "./store.ts";
import { DEFAULT_RECONCILE_DEADLINE, forgetOtherPeers } from "./unreconciled.ts";

export interface WitnessConfig {
  port: number;
  host: string;
  dataDir: string;
  /** As the log's (LogConfig.createEmbeddedApart); `witness` sets it. */
  createEmbeddedApart?: boolean;
  keyFile?: string;
  name?: string;
  databaseUrl?: string;
  databaseSchema?: string;
  logs: { origin: string; vkeys: string[]; url?: string }[];
  peers: string[];
  alertUrl?: string;
  gossipIntervalMs: number;
  pollIntervalMs: number;
  /** How long a peer's head may stay uncompared before cosigning is held (default 5 min). */
  reconcileDeadlineMs?: number;
  /** Tests only: called once a cosigned state is durable, before the answer (a restart drill). */
  afterCommit?: () => void;
}

export interface RunningWitness {
  url: string;
  cosignatureKey: string;
  deps: WitnessDeps;
  close(): Promise<void>;
}

/** `--log <origin>=<vkey>[@<url>]`. */
export function parseLogSpec(spec: string): { origin: string; vkeys: string[]; url?: string } {
  const eq = spec.indexOf("=");
  if (eq <= 0) throw new Error(`--log ${spec}: expected <origin>=<vkey>[@<url>]`);
  const origin = spec.slice(0, eq);
  let rest = spec.slice(eq + 1);
  let url: string | undefined;
  const at = rest.search(/@https?:\/\//);
  if (at >= 0) {
    url = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  parseLogVerifierKey(rest);
  return { origin, vkeys: [rest], url };
}

export async function startWitness(
  cfg: WitnessConfig,
  say: (m: string) => void = console.error,
): Promise<RunningWitness> {
  mkdirSync(cfg.dataDir, { recursive: true });
  const keyFile = cfg.keyFile ?? join(cfg.dataDir, "witness.key");
  if (!existsSync(keyFile)) {
    if (cfg.keyFile)
      throw new Error(`key file ${cfg.keyFile} does not exist (create one with tmuxtrail keygen)`);
    const k = generateKey(
      cfg.name ?? `witness.local/${hostname()}`,
      new Uint8Array(randomBytes(32)),
    );
    writeFileSync(keyFile, `${k.signerKey}\n`, { mode: 0o600, flag: "wx" });
  }
  const signerKey = readFileSync(keyFile, "utf8").trim();
  const signer = parseSignerKey(signerKey);
  const storage = await openStorage({
    databaseUrl: cfg.databaseUrl,
    databaseSchema: cfg.databaseSchema,
    dataDir: cfg.dataDir,
    poolSize: 4,
    createApart: cfg.createEmbeddedApart,
    migrations: WITNESS_MIGRATIONS,
    init: async () => {},
  });
  const logs = new Map<string, WitnessedLog>();
  for (const l of cfg.logs) {
    const have = logs.get(l.origin);
    const verifiers = l.vkeys.map((k) => parseLogVerifierKey(k));
    if (have) have.verifiers.push(...verifiers);
    else logs.set(l.origin, { origin: l.origin, verifiers, url: l.url });
  }
  // Evidence stored by an earlier version may prove nothing under rule 1 (a failing proof was
  // enough then), yet the witness refuses that log while any is held: say so at start.
  for (const e of await listEvidence(storage.sql)) {
    const l = logs.get(e.origin);
    if (!l) continue;
    try {
      verifyEvidence(e, l.verifiers);
    } catch (err) {
      say(
        `witness: the evidence for ${e.origin} detected ${e.detected} does not prove a fork (${(err as Error).message}); it was recorded under an earlier, looser rule. This witness cosigns nothing further for ${e.origin} while it is held: check it with verify-evidence and delete that row of the evidence table if it proves nothing`,
      );
    }
  }
  // A peer no longer configured leaves no open comparison behind to hold cosigning.
  await forgetOtherPeers(storage.sql, cfg.peers);
  const alert = async (
    origin: string,
    detail: string,
    event: "fork" | "unreconciled" | "peer-unreachable" = "fork",
  ) => {
    say(
      event === "fork"
        ? `ALERT: fork evidence for ${origin}: ${detail}`
        : event === "unreconciled"
          ? `ALERT: a peer's head for ${origin} stayed uncompared past the reconcile deadline; cosigning beyond this witness's size is held until the comparison completes: ${detail}`
          : `ALERT: a peer gave no head for ${origin} to compare past the reconcile deadline (unreachable, or no checkpoint signed by the log); counted, cosigning not held: ${detail}`,
    );
    if (!cfg.alertUrl) return;
    let evidence: unknown[] = [];
    try {
      if (event === "fork") evidence = await listEvidence(storage.sql, origin);
    } catch (e) {
      say(`alert: reading the evidence for ${origin}: ${(e as Error).message}`);
    }
    await postWebhook(cfg.alertUrl, { event, origin, detail, evidence }, say);
  };
  const deps: WitnessDeps = {
    sql: storage.sql,
    signer,
    logs,
    hasher: nodeHasher,
    metrics: witnessMetrics(),
    now: () => Date.now() / 1000,
    onEvidence: (origin, detail) => void alert(origin, detail),
    reconcileDeadline: (cfg.reconcileDeadlineMs ?? DEFAULT_RECONCILE_DEADLINE * 1000) / 1000,
    onHold: (origin, detail, held) =>
      void alert(origin, detail, held ? "unreconciled" : "peer-unreachable"),
    afterCommit: cfg.afterCommit,
  };
  const app = witnessApp(deps, say);
  const { server, url } = await listen(app.fetch, cfg.port, cfg.host).catch(async (e) => {
    await storage.close();
    throw e;
  });
  const timers: ReturnType<typeof setInterval>[] = [];
  const every = (ms: number, f: () => Promise<void>) => {
    let busy = false;
    timers.push(
      setInterval(async () => {
        if (busy) return;
        busy = true;
        try {
          await f();
        } catch (e) {
          say(`witness: ${(e as Error).message}`);
        } finally {
          busy = false;
        }
      }, ms),
    );
  };
  // Each log is followed on its own timer: a log that answers slowly (each read may take its
  // deadline) holds up only its own rounds, never the following of the others.
  for (const l of logs.values()) {
    if (!l.url) continue;
    every(cfg.pollIntervalMs, () =>
      followLog(deps, l, say).catch((e) => say(`following ${l.origin}: ${(e as Error).message}`)),
    );
  }
  if (cfg.peers.length > 0) {
    every(cfg.gossipIntervalMs, async () => {
      for (const peer of cfg.peers)
        for (const l of logs.values())
          await gossipWith(deps, peer, l, say).catch((e) =>
            say(`gossip with ${peer} about ${l.origin}: ${(e as Error).message}`),
          );
    });
  }
  return {
    url,
    cosignatureKey: cosignatureVerifierKey(signerKey),
    deps,
    async close() {
      for (const t of timers) clearInterval(t);
      const closed = new Promise<void>((r) => server.close(() => r()));
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
      await storage.close();
    },
  };
}
