// Verifying a long session's bundle on every core: the per-event facts (core/bundle-facts.ts: leaf
// hash, leaf schema and canonical form, content commitment; most of the work) are found by helper
// threads and by this thread, each on its own contiguous share of the events; verifySessionBundle
// then does the rest on this thread with them. The answer is the one verifySessionBundle gives
// alone: the helpers run the same eventFacts, and a helper that fails or cannot start leaves its
// share to this thread.
//
// The helpers are worker threads of this same module (`new Worker(import.meta.url)`): in the built
// CLI that is dist/tmuxtrail.mjs, from the sources it is this file under tsx's loader. They are
// started before the bundle is read (`FactsPool.start`), so they load while the file is parsed.
// What goes to a helper is its events' leaf and payload texts (strings clone fast); what comes
// back is the leaf hashes and contents packed into two transferred buffers, the parsed metadata
// and the reasons for failures.

import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { type EventFacts, eventFacts, type FactsInput } from "../core/bundle-facts.ts";
import type { EventMeta } from "../core/events.ts";
import type { Hasher } from "../core/hash.ts";
import type { AnySessionBundle } from "../core/session-bundle.ts";
import {
  type BundleFacts,
  type BundleReport,
  type BundleTrust,
  verifySessionBundle,
} from "../core/session-bundle-verify.ts";
import { nodeHasher } from "./node-hasher.ts";

const ROLE = "tmuxtrail-bundle-facts";
/** Below this many events a bundle is verified on this thread alone: a share would not pay for
 * cloning it to a helper and back. */
export const PARALLEL_FROM = 4000;
/** This thread's share of the events against a helper's 1 (measured on 2 cores, 100,000 events). */
const OWN_WEIGHT = 1.1;

interface Job {
  leaves: string[];
  payloads: (FactsInput["payload"] | null)[];
}

interface Answer {
  hashes: Uint8Array;
  metas: (EventMeta | null)[];
  leafWhys: (string | null)[];
  /** Every decoded content, one after the other; `lengths[i]` is event i's, -1 when none. */
  contents: Uint8Array;
  lengths: Int32Array;
  contentWhys: (string | null)[];
}

function answer(job: Job, hasher: Hasher): Answer {
  const n = job.leaves.length;
  const hashes = new Uint8Array(32 * n);
  const metas: (EventMeta | null)[] = new Array(n);
  const leafWhys: (string | null)[] = new Array(n);
  const contentWhys: (string | null)[] = new Array(n);
  const lengths = new Int32Array(n).fill(-1);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const f = eventFacts({ leaf: job.leaves[i]!, payload: job.payloads[i] }, hasher);
    hashes.set(f.leafHash, 32 * i);
    metas[i] = f.meta ?? null;
    leafWhys[i] = f.leafWhy ?? null;
    contentWhys[i] = f.contentWhy ?? null;
    if (f.content) {
      lengths[i] = f.content.length;
      parts.push(f.content);
      total += f.content.length;
    }
  }
  const contents = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    contents.set(p, at);
    at += p.length;
  }
  return { hashes, metas, leafWhys, contents, lengths, contentWhys };
}

function factsOf(a: Answer): EventFacts[] {
  const out: EventFacts[] = new Array(a.metas.length);
  let at = 0;
  for (let i = 0; i < out.length; i++) {
    const f: EventFacts = { leafHash: a.hashes.subarray(32 * i, 32 * i + 32) };
    const meta = a.metas[i];
    if (meta) f.meta = meta;
    else f.leafWhy = a.leafWhys[i] ?? "the leaf is not an event";
    const why = a.contentWhys[i];
    if (why !== null && why !== undefined) f.contentWhy = why;
    const len = a.lengths[i]!;
    if (len >= 0) {
      f.content = a.contents.subarray(at, at + len);
      at += len;
    }
    out[i] = f;
  }
  return out;
}

// A helper thread: answers each job it is sent, until it is terminated.
if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  parentPort!.on("message", (job: Job) => {
    const a = answer(job, nodeHasher);
    parentPort!.postMessage(
      a,
      [a.hashes, a.contents, a.lengths].map((x) => x.buffer as ArrayBuffer),
    );
  });
}

/** Helper threads by default: one fewer than the cores (this thread takes a share too), up to 3. */
export function defaultHelpers(): number {
  return Math.max(0, Math.min(3, availableParallelism() - 1));
}

export class FactsPool {
  /** Events whose facts a helper found (the rest: this thread). */
  helped = 0;
  /** Helpers that failed or exited: never asked again. */
  private readonly gone = new Set<Worker>();

  private constructor(private readonly workers: Worker[]) {
    for (const w of workers) {
      // A helper that fails before it is asked (it could not load) must not end the process.
      w.on("error", () => this.gone.add(w));
      w.on("exit", () => this.gone.add(w));
    }
  }

  /** Starts `helpers` threads now, so they load while the caller reads the bundle. */
  static start(helpers = defaultHelpers()): FactsPool {
    const url = new URL(import.meta.url);
    // From the sources (a .ts file), the helper loads this module through tsx's API (a worker
    // inherits no loader registered at run time, and Node 20 ignores one registered in it).
    // (tsx's ESM API: its CommonJS twin resolves tsImport's loader wrongly from an eval worker).
    const api = () =>
      pathToFileURL(
        createRequire(url)
          .resolve("tsx/esm/api")
          .replace(/\.cjs$/, ".mjs"),
      ).href;
    const entry = url.pathname.endsWith(".ts")
      ? `import(${JSON.stringify(api())}).then((m) => m.tsImport(${JSON.stringify(url.href)}, ${JSON.stringify(url.href)}));`
      : url;
    const workers: Worker[] = [];
    for (let i = 0; i < helpers; i++) {
      try {
        const w = new Worker(entry, {
          workerData: { role: ROLE },
          eval: typeof entry === "string",
        });
        w.unref();
        workers.push(w);
      } catch {
        break; // no thread to be had: this thread does that share
      }
    }
    return new FactsPool(workers);
  }

  /** The bundle's facts, the events shared between the helpers and this thread. */
  async facts(
    bundle: AnySessionBundle,
    hasher: Hasher = nodeHasher,
    parallelFrom = PARALLEL_FROM,
  ): Promise<BundleFacts> {
    const events = bundle.events;
    const erasures = bundle.erasures.map((ev) => eventFacts(ev, hasher));
    if (events.length < Math.max(parallelFrom, 1) || this.workers.length === 0) {
      return { events: events.map((ev) => eventFacts(ev, hasher)), erasures };
    }
    // This thread's share is smaller: it also takes the helpers' answers in (~0.3 s of 100,000).
    const mine = Math.floor((events.length * OWN_WEIGHT) / (OWN_WEIGHT + this.workers.length));
    const per = Math.ceil((events.length - mine) / this.workers.length);
    const asked = this.workers.map((w, k) => {
      const slice = events.slice(mine + k * per, mine + (k + 1) * per);
      return this.ask(w, {
        leaves: slice.map((ev) => ev.leaf),
        payloads: slice.map((ev) => ev.payload ?? null),
      }).then(
        (a) => {
          this.helped += slice.length;
          return factsOf(a);
        },
        // A helper that failed: this thread does its share.
        () => slice.map((ev) => eventFacts(ev, hasher)),
      );
    });
    const own = events.slice(0, mine).map((ev) => eventFacts(ev, hasher));
    const theirs = await Promise.all(asked);
    return { events: own.concat(...theirs), erasures };
  }

  /** verifySessionBundle, with the per-event work shared across the threads. */
  async verify(
    bundle: AnySessionBundle,
    trust: BundleTrust = {},
    hasher: Hasher = nodeHasher,
    parallelFrom = PARALLEL_FROM,
  ): Promise<BundleReport> {
    const facts = await this.facts(bundle, hasher, parallelFrom);
    return verifySessionBundle(bundle, trust, hasher, facts);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private ask(w: Worker, job: Job): Promise<Answer> {
    if (this.gone.has(w)) return Promise.reject(new Error("the helper thread is gone"));
    return new Promise((resolve, reject) => {
      const done = () => {
        w.off("message", onMessage);
        w.off("error", onError);
        w.off("exit", onExit);
      };
      const onMessage = (a: Answer) => {
        done();
        resolve(a);
      };
      const onError = (e: Error) => {
        done();
        reject(e);
      };
      const onExit = (code: number) => {
        done();
        reject(new Error(`the helper thread exited (${code})`));
      };
      w.on("message", onMessage);
      w.on("error", onError);
      w.on("exit", onExit);
      w.ref();
      w.postMessage(job);
    }).finally(() => w.unref()) as Promise<Answer>;
  }
}

/** Runs `work` with a pool started now and closed after, whatever `work` does. */
export async function withFactsPool<T>(work: (pool: FactsPool) => Promise<T>): Promise<T> {
  const pool = FactsPool.start();
  try {
    return await work(pool);
  } finally {
    await pool.close();
  }
}
