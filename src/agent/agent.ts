// Assembles the agent: spool, capture of one tmux server, sender, receipt checks and a status file.

import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Verifier } from "../log/keys.ts";
import { Capture } from "./capture.ts";
import { ReceiptProver, type ReceiptStatus } from "./receipts.ts";
import type { RedactionPattern } from "./redact.ts";
import { Sender } from "./sender.ts";
import { Spool } from "./spool.ts";
import { Tmux, type TmuxTarget } from "./tmux.ts";

export interface AgentConfig {
  logUrl: string;
  token: string;
  logKey?: Verifier;
  /** Witnesses' cosignature/v1 keys: receipts are proven only against checkpoints `witnessQuorum` of them cosigned. */
  witnesses?: Verifier[];
  witnessQuorum?: number;
  /** Per request for the log's checkpoint and tiles (default 10 s). */
  readTimeoutMs?: number;
  host: string;
  user: string;
  target: TmuxTarget;
  spoolDir: string;
  spoolCapBytes: number;
  patterns: RedactionPattern[];
  tickMs: number;
}

export interface RunningAgent {
  spool: Spool;
  close(): Promise<void>;
}

export async function startAgent(
  cfg: AgentConfig,
  log: (m: string) => void = console.error,
): Promise<RunningAgent> {
  // Whatever the agent creates (spool, status, receipts, checkpoints) is owner-only, whatever the
  // umask it was started with: the spool holds what was captured before redaction.
  process.umask(0o077);
  const tmux = new Tmux(cfg.target);
  const serverId = await tmux.serverId();
  const spool = new Spool(cfg.spoolDir, log);
  const capture = new Capture({
    tmux,
    spool,
    host: cfg.host,
    user: cfg.user,
    serverId,
    patterns: cfg.patterns,
    spoolCapBytes: cfg.spoolCapBytes,
    coalesceMs: 100,
    maxChunk: 32 * 1024,
    log,
  });
  await capture.start();
  const sender = new Sender(spool, cfg.logUrl, cfg.token, log);
  const prover = cfg.logKey
    ? new ReceiptProver(
        {
          spoolDir: cfg.spoolDir,
          logUrl: cfg.logUrl,
          logKey: cfg.logKey,
          witnesses: cfg.witnesses,
          quorum: cfg.witnessQuorum,
          timeoutMs: cfg.readTimeoutMs,
        },
        log,
      )
    : undefined;
  let receipts: ReceiptStatus = prover?.status() ?? {
    total: 0,
    proven: 0,
    failed: 0,
    waiting: null,
    alarm: null,
    checkpoint: null,
  };
  // A round of proofs runs beside the loop (a slow tile must not hold capture up).
  let proving: Promise<void> | undefined;
  let stopped = false;
  let rounds = 0;
  const loop = (async () => {
    while (!stopped) {
      try {
        if (rounds % 5 === 0) await capture.discover();
        await capture.tick();
        await sender.drain();
        if (prover && rounds % 20 === 0 && !proving) {
          proving = prover
            .round()
            .then(
              () => {},
              (e) => log(`agent: proving receipts: ${(e as Error).message}`),
            )
            .finally(() => {
              proving = undefined;
            });
        }
        if (prover) receipts = prover.status();
        // Written whole then renamed into place: `agent status` never reads half a file.
        const statusFile = join(cfg.spoolDir, "status.json");
        writeFileSync(
          `${statusFile}.tmp`,
          JSON.stringify({
            pid: process.pid,
            updated: new Date().toISOString(),
            server: serverId,
            log: cfg.logUrl,
            panes: capture.paneIds(),
            spoolDepthBytes: spool.depth(),
            unsentEvents: spool.state.lines - spool.state.acked,
            lastAckedIndex: sender.status.lastAckedIndex,
            connected: sender.status.connected,
            lastError: sender.status.lastError,
            sendFailed: sender.status.failed,
            refusedAnswers: sender.status.refused,
            witnessQuorum: cfg.witnesses?.length
              ? { k: cfg.witnessQuorum ?? cfg.witnesses.length, n: cfg.witnesses.length }
              : null,
            receipts: { ...receipts, unproven: receipts.total - receipts.proven - receipts.failed },
          }),
          { mode: 0o600 },
        );
        renameSync(`${statusFile}.tmp`, statusFile);
      } catch (e) {
        log(`agent: ${(e as Error).message}`);
        if (/no server running|error connecting/.test((e as Error).message)) {
          log("agent: the tmux server is gone; stopping");
          stopped = true;
        }
      }
      rounds++;
      await new Promise((r) => setTimeout(r, cfg.tickMs));
    }
    await proving;
  })();
  return {
    spool,
    async close() {
      stopped = true;
      await loop;
      await capture.stop().catch((e) => log(`agent: removing the tmux hooks: ${e.message}`));
      await capture.tick().catch(() => {});
      await sender.drain().catch(() => {});
      spool.close();
    },
  };
}
