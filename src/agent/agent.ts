// Assembles the agent: spool, capture of one tmux server, sender, receipt checks and a status file.
// With no tmux server running it waits for one (status "waiting"), polling every SERVER_POLL_MS,
// also after the server it captured went away; it refuses a server of another user, and a spool
// holding unsent events of another host.

import { join } from "node:path";
import type { Verifier } from "../core/keys.ts";
import { writeFileAtomic } from "../lib/atomic-file.ts";
import { Capture } from "./capture.ts";
import { ReceiptProver, type ReceiptStatus } from "./receipts.ts";
import type { RedactionPattern } from "./redact.ts";
import { checkServerOwner, checkSocketOwner, checkSpoolHost } from "./refusals.ts";
import { Sender } from "./sender.ts";
import { Spool } from "./spool.ts";
import { noServer, type ServerInfo, Tmux, type TmuxTarget } from "./tmux.ts";

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
  /** Whether the key's host was checked at start; if not, the sender asks before its first send. */
  keyHostChecked?: boolean;
  user: string;
  target: TmuxTarget;
  spoolDir: string;
  spoolCapBytes: number;
  patterns: RedactionPattern[];
  tickMs: number;
}

export interface RunningAgent {
  spool: Spool;
  /**
   * Settles when the agent stops: rejects with a UsageError when a server that appeared later
   * cannot be captured (another user's).
   */
  done: Promise<void>;
  close(): Promise<void>;
}

/** How often the agent looks for a tmux server that is not running (yet). */
export const SERVER_POLL_MS = 1000;

export async function startAgent(
  cfg: AgentConfig,
  say: (m: string) => void = console.error,
): Promise<RunningAgent> {
  // Whatever the agent creates (spool, status, receipts, checkpoints) is owner-only, whatever the
  // umask it was started with: the spool holds what was captured before redaction.
  process.umask(0o077);
  const tmux = new Tmux(cfg.target);
  // A server running at start is checked before the spool is touched.
  let server: ServerInfo | undefined;
  checkSocketOwner(tmux.socketPath());
  try {
    server = await tmux.server();
  } catch (e) {
    if (!noServer(e)) throw e;
  }
  if (server) checkServerOwner(server);
  const spool = new Spool(cfg.spoolDir, say);
  try {
    checkSpoolHost(spool, cfg.host);
  } catch (e) {
    spool.close();
    throw e;
  }
  const sender = new Sender(
    spool,
    cfg.logUrl,
    cfg.token,
    say,
    cfg.host,
    cfg.keyHostChecked ?? true,
  );
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
        say,
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
  let capture: Capture | undefined;
  let waiting: string | null = null;
  // A round of proofs runs beside the loop (a slow tile must not hold capture up).
  let proving: Promise<void> | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      wake = () => {
        clearTimeout(t);
        r();
      };
    });
  const writeStatus = () => {
    const statusFile = join(cfg.spoolDir, "status.json");
    // Whole or not at all (`agent status` never reads half a file); rewritten every tick, so not
    // fsynced: a status lost in a crash is rewritten at the next start.
    writeFileAtomic(
      statusFile,
      JSON.stringify({
        pid: process.pid,
        updated: new Date().toISOString(),
        server: server?.id ?? null,
        waiting,
        log: cfg.logUrl,
        panes: capture?.paneIds() ?? [],
        paneStates: capture?.paneStates() ?? {},
        spoolDepthBytes: spool.depth(),
        unsentEvents: spool.state.lines - spool.state.acked,
        lastAckedIndex: sender.status.lastAckedIndex,
        connected: sender.status.connected,
        lastError: sender.status.lastError,
        sendFailed: sender.status.failed,
        wrongHost: sender.status.wrongHost,
        refusedAnswers: sender.status.refused,
        witnessQuorum: cfg.witnesses?.length
          ? { k: cfg.witnessQuorum ?? cfg.witnesses.length, n: cfg.witnesses.length }
          : null,
        receipts: { ...receipts, unproven: receipts.total - receipts.proven - receipts.failed },
      }),
      { durable: false },
    );
  };
  /** Polls until a tmux server runs (or the agent is stopped); the spool is sent meanwhile. */
  const waitForServer = async (): Promise<ServerInfo | undefined> => {
    const socket = tmux.socketPath();
    waiting = `waiting for the tmux server at ${socket} (since ${new Date().toISOString()})`;
    say(`agent: waiting for the tmux server at ${socket}`);
    while (!stopped) {
      checkSocketOwner(socket);
      try {
        return await tmux.server();
      } catch (e) {
        if (!noServer(e)) say(`agent: ${(e as Error).message}`);
      }
      await sender.drain().catch((e) => say(`agent: ${(e as Error).message}`));
      try {
        writeStatus();
      } catch (e) {
        say(`agent: writing the status: ${(e as Error).message}`);
      }
      await sleep(SERVER_POLL_MS);
    }
    return undefined;
  };
  const newCapture = (id: string) =>
    new Capture({
      tmux,
      spool,
      host: cfg.host,
      user: cfg.user,
      serverId: id,
      patterns: cfg.patterns,
      spoolCapBytes: cfg.spoolCapBytes,
      coalesceMs: 100,
      maxChunk: 32 * 1024,
      say,
    });
  if (server) {
    capture = newCapture(server.id);
    await capture.start();
  }
  let rounds = 0;
  const loop = (async () => {
    while (!stopped) {
      if (!server) {
        server = await waitForServer();
        if (!server) return;
        checkServerOwner(server);
        waiting = null;
        say(`agent: the tmux server ${server.id} is running; capturing`);
        try {
          // A new server's panes reuse %0, @0, $0: Capture resets the spool's marks for it.
          capture = newCapture(server.id);
          await capture.start();
        } catch (e) {
          if (!noServer(e)) throw e;
          server = undefined;
          capture = undefined;
          continue;
        }
      }
      const c = capture!;
      try {
        if (rounds % 5 === 0) await c.discover();
        await c.tick();
        await sender.drain();
        if (prover && rounds % 20 === 0 && !proving) {
          proving = prover
            .round()
            .then(
              () => {},
              (e) => say(`agent: proving receipts: ${(e as Error).message}`),
            )
            .finally(() => {
              proving = undefined;
            });
        }
        if (prover) receipts = prover.status();
        writeStatus();
      } catch (e) {
        say(`agent: ${(e as Error).message}`);
        if (noServer(e)) {
          // What its panes printed last is spooled when the next server is captured (Capture).
          say("agent: the tmux server is gone; waiting for the next one");
          server = undefined;
          capture = undefined;
          continue;
        }
      }
      rounds++;
      if (!stopped) await sleep(cfg.tickMs);
    }
    await proving;
  })();
  let closing: Promise<void> | undefined;
  return {
    spool,
    done: loop,
    close() {
      closing ??= (async () => {
        stopped = true;
        wake?.();
        await loop.catch(() => {});
        if (capture) {
          await capture.stop().catch((e) => say(`agent: removing the tmux hooks: ${e.message}`));
          await capture.tick().catch(() => {});
        }
        await sender.drain().catch(() => {});
        spool.close();
      })();
      return closing;
    },
  };
}
