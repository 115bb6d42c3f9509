// Verifying a long session's bundle on every core: the per-event facts (core/bundle-facts.ts: leaf
// hash, leaf schema and canonical form, content commitment; most of the work) are found by helper
// threads and by this thread, each on its own contiguous share of the events; verifySessionBundle
// then does the rest on this thread with them. The answer is the one verifySessionBundle gives
// alone: the helpers run the same eventFacts, and a helper that fails or cannot start leaves its
// share to this thread.
//
// The helpers are worker threads of this same module (`new Worker(import.meta.url)`): in the built
// CLI the chunk that holds it, from the sources this file under tsx's loader. They are started
// before the bundle is read (`FactsPool.start`), so they load while the file is parsed. What goes
// to a helper is a bundle file's bytes, shared (verifyDocument), or its events' leaf and payload
// texts (strings clone fast); what comes back is the leaf hashes and contents packed into
// transferred buffers, which leaves are valid events, and the reasons for failures.

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
  bundleFacts,
  verifySessionBundle,
} from "../core/session-bundle-verify.ts";
import { nodeHasher } from "./node-hasher.ts";

const ROLE = "tmuxtrail-bundle-facts";
/** Below this many events a bundle is verified on this thread alone: a share would not pay for
 * cloning it to a helper and back. */
export const PARALLEL_FROM = 4000;
/** This thread's share of the events against a helper's 1 (0.7–1.6 measured on 2 cores, 100,000
 * events: 0.9–1.1 fastest, within the noise of each other). */
const OWN_WEIGHT = 1;

/**
 * What a helper is asked: the facts of events sent as texts, or of its share of the events of a
 * whole document (a bundle file's bytes, shared, which it parses as this thread does).
 */
type Job =
  | { kind: "texts"; from: number; leaves: string[]; payloads: (FactsInput["payload"] | null)[] }
  | { kind: "document"; bytes: SharedArrayBuffer; share: number; helpers: number };

/** Where each thread's share of n events begins: [0 (this thread), helper 1, …, n]. */
export function shareBounds(n: number, helpers: number): number[] {
  // OWN_WEIGHT below 1 would make this thread's share smaller (it also takes the answers in);
  // on 2 cores equal shares measured as fast as any other split.
  const own = Math.floor((n * OWN_WEIGHT) / (OWN_WEIGHT + helpers));
  const per = Math.ceil((n - own) / Math.max(helpers, 1));
  const bounds = [0, own];
  for (let k = 1; k <= helpers; k++) bounds.push(Math.min(n, own + k * per));
  return bounds;
}

interface Waiter {
  resolve(a: Answer): void;
  reject(e: Error): void;
}

interface Answer {
  /** The events answered for: the job's, or a document's events [from, from + count). */
  from: number;
  count: number;
  hashes: Uint8Array;
  /** 1 where the leaf is a valid event (this thread parses that leaf again, without checks). */
  valid: Uint8Array;
  leafWhys: (string | null)[];
  /** Every decoded content, one after the other; `lengths[i]` is event i's, -1 when none. */
  contents: Uint8Array;
  lengths: Int32Array;
  contentWhys: (string | null)[];
}

/** The events a job is about, and where they begin in the bundle. */
function jobEvents(job: Job): { from: number; events: FactsInput[] } {
  if (job.kind === "texts") {
    const events = job.leaves.map((leaf, i) => ({ leaf, payload: job.payloads[i] }));
    return { from: job.from, events };
  }
  // The same bytes, the same parse as this thread's: the same events in the same order. What is
  // not a bundle's shape here fails in this thread's schema too (the answer is then unused).
  const doc = JSON.parse(Buffer.from(job.bytes).toString("utf8")) as { events?: unknown };
  if (!Array.isArray(doc?.events)) throw new Error("not a bundle: no events");
  const all = doc.events as FactsInput[];
  const bounds = shareBounds(all.length, job.helpers);
  const from = bounds[job.share]!;
  const events = all.slice(from, bounds[job.share + 1]);
  for (const ev of events) {
    if (typeof ev?.leaf !== "string") throw new Error("not a bundle: an event without a leaf");
  }
  return { from, events };
}

function answer(job: Job, hasher: Hasher): Answer {
  const { from, events } = jobEvents(job);
  const n = events.length;
  const hashes = new Uint8Array(32 * n);
  const valid = new Uint8Array(n);
  const leafWhys: (string | null)[] = new Array(n);
  const contentWhys: (string | null)[] = new Array(n);
  const lengths = new Int32Array(n).fill(-1);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const f = eventFacts(events[i]!, hasher);
    hashes.set(f.leafHash, 32 * i);
    valid[i] = f.meta ? 1 : 0;
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
  return { from, count: n, hashes, valid, leafWhys, contents, lengths, contentWhys };
}

/**
 * A helper's answer as facts. A leaf the helper found valid is parsed here again by JSON.parse
 * alone: the same text gives the same object, and a parse is faster than the helper sending the
 * object (structured clone's first deserialisation in a process is slow).
 */
function factsOf(a: Answer, events: readonly FactsInput[]): EventFacts[] {
  const out: EventFacts[] = new Array(events.length);
  let at = 0;
  for (let i = 0; i < out.length; i++) {
    const f: EventFacts = { leafHash: a.hashes.subarray(32 * i, 32 * i + 32) };
    if (a.valid[i]) f.meta = JSON.parse(events[i]!.leaf) as EventMeta;
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
    let a: Answer;
    try {
      a = answer(job, nodeHasher);
    } catch (e) {
      parentPort!.postMessage({ failed: (e as Error)?.message ?? String(e) });
      return;
    }
    parentPort!.postMessage(
      a,
      [a.hashes, a.valid, a.contents, a.lengths].map((x) => x.buffer as ArrayBuffer),
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
  /** Per helper, the jobs sent and not yet answered, in order (a helper answers in order). */
  private readonly waiting = new Map<Worker, Waiter[]>();

  private constructor(private readonly workers: Worker[]) {
    for (const w of workers) {
      const queue: Waiter[] = [];
      this.waiting.set(w, queue);
      w.on("message", (a: Answer | { failed: string }) => {
        const waiter = queue.shift();
        if (queue.length === 0) w.unref();
        if ("failed" in a) waiter?.reject(new Error(a.failed));
        else waiter?.resolve(a);
      });
      // A helper that fails (it could not load, or died) must not end the process: its jobs fail,
      // and their shares fall to this thread.
      const lost = (why: Error) => {
        this.gone.add(w);
        for (const waiter of queue.splice(0)) waiter.reject(why);
      };
      w.on("error", lost);
      // An answer that cannot be taken in would leave its job waiting for ever: the helper is lost.
      w.on("messageerror", (e) => {
        lost(e);
        void w.terminate();
      });
      w.on("exit", (code) => lost(new Error(`the helper thread exited (${code})`)));
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
    if (events.length < Math.max(parallelFrom, 1) || this.workers.length === 0) {
      return bundleFacts(bundle, hasher);
    }
    const erasures = bundle.erasures.map((ev) => eventFacts(ev, hasher));
    const bounds = shareBounds(events.length, this.workers.length);
    const asked = this.workers.map((w, k) => {
      const slice = events.slice(bounds[k + 1], bounds[k + 2]);
      return this.ask(w, {
        kind: "texts",
        from: bounds[k + 1]!,
        leaves: slice.map((ev) => ev.leaf),
        payloads: slice.map((ev) => ev.payload ?? null),
      });
    });
    return { events: await this.gather(events, bounds, asked, hasher), erasures };
  }

  /**
   * verify-bundle's way: the file's bytes, read once and shared with the helpers, which parse
   * them and find the facts of their shares while this thread parses them too (`parse`: the
   * bytes as UTF-8 to a bundle, schema checked; its errors are the caller's) and finds its own.
   * Nothing is cloned to a helper, and the helpers start before this thread has parsed. One copy
   * of the bytes: what this thread and the helpers parse is the same whatever happens to the file
   * meanwhile.
   */
  async verifyDocument(
    bytes: Uint8Array,
    parse: (bytes: Buffer) => AnySessionBundle,
    trust: BundleTrust = {},
    hasher: Hasher = nodeHasher,
    parallelFrom = PARALLEL_FROM,
  ): Promise<{ bundle: AnySessionBundle; report: BundleReport }> {
    const live = this.workers.filter((w) => !this.gone.has(w));
    // A bundle's events are hundreds of bytes each: a smaller document is not worth the helpers.
    const parallel = live.length > 0 && bytes.length >= parallelFrom * 256;
    let asked: Promise<Answer>[] = [];
    if (parallel) {
      const shared = new SharedArrayBuffer(bytes.length);
      new Uint8Array(shared).set(bytes);
      asked = live.map((w, k) =>
        this.ask(w, { kind: "document", bytes: shared, share: k + 1, helpers: live.length }),
      );
      // Taken in by gather, or dropped when the document does not parse here.
      for (const a of asked) a.catch(() => {});
    }
    const bundle = parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    const facts = parallel
      ? {
          events: await this.gather(
            bundle.events,
            shareBounds(bundle.events.length, asked.length),
            asked,
            hasher,
          ),
          erasures: bundle.erasures.map((ev) => eventFacts(ev, hasher)),
        }
      : bundleFacts(bundle, hasher);
    return { bundle, report: verifySessionBundle(bundle, trust, hasher, facts) };
  }

  /**
   * This thread's share's facts, then each helper's answer for its share (checked to be of those
   * events); a helper that failed or answered for other events leaves its share to this thread.
   */
  private async gather(
    events: readonly FactsInput[],
    bounds: number[],
    asked: Promise<Answer>[],
    hasher: Hasher,
  ): Promise<EventFacts[]> {
    const own = events.slice(0, bounds[1]).map((ev) => eventFacts(ev, hasher));
    const theirs = await Promise.all(
      asked.map(async (answer, k) => {
        const from = bounds[k + 1]!;
        const slice = events.slice(from, bounds[k + 2]);
        const a = await answer.catch(() => undefined);
        if (!a || a.from !== from || a.count !== slice.length) {
          return slice.map((ev) => eventFacts(ev, hasher));
        }
        this.helped += slice.length;
        return factsOf(a, slice);
      }),
    );
    return own.concat(...theirs);
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
      this.waiting.get(w)!.push({ resolve, reject });
      w.ref();
      w.postMessage(job);
    });
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
