// Fault drill 4a: every parser in src/core (and the witness's add-checkpoint body parser) fed
// generated input: random text and bytes, and valid inputs with random edits. A parser either
// answers or throws a TrailError; any other throw (TypeError, RangeError, a zod error, ...) is a
// crash that an HTTP handler would turn into a 500 or a CLI into a stack trace.
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { decodeBundle, encodeBundle } from "../../src/core/bundle.ts";
import { formatCheckpoint, openCheckpoint, parseCheckpoint } from "../../src/core/checkpoint.ts";
import { cosign, cosignatureTime, verifyCosignature } from "../../src/core/cosignature.ts";
import {
  base64Decode,
  base64Encode,
  hexDecode,
  parseDecimal,
  utf8Decode,
} from "../../src/core/encoding.ts";
import { isTrailError } from "../../src/core/errors.ts";
import { parseCommandContent, parseLeaf, parseSubmission } from "../../src/core/events.ts";
import { rfc6962 } from "../../src/core/hash.ts";
import {
  cosignatureVerifierKey,
  generateKey,
  parseSignerKey,
  parseVerifierKey,
} from "../../src/core/keys.ts";
import { openNote, parseSignatureLine, signNote, splitNote } from "../../src/core/note.ts";
import { parseSessionBundle } from "../../src/core/session-bundle.ts";
import { verifySessionBundle } from "../../src/core/session-bundle-verify.ts";
import { entriesPath, hashTilePath, parseTilePath } from "../../src/core/tiles.ts";
import { formatTlogProof, parseTlogProof, verifyTlogProof } from "../../src/core/tlog-proof.ts";
import { formatAddCheckpoint, parseAddCheckpoint } from "../../src/core/tlog-witness.ts";
import { makeBatch } from "../support/events.ts";
import { ORIGIN, openFilledLog, TEST_KEY, type TestLog } from "../support/log.ts";

const RUNS = 150;

/** Runs `f`; a throw that is not a TrailError fails the property with the input shown. */
function onlyTrailErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!isTrailError(e)) {
      throw new Error(`non-TrailError throw: ${(e as Error)?.stack ?? e}`);
    }
  }
}

/** Random text edits of a valid input: replace, insert, delete, truncate, duplicate a line. */
function mutated(seed: string): fc.Arbitrary<string> {
  const edit = fc.tuple(
    fc.nat(),
    fc.integer({ min: 0, max: 4 }),
    fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.constantFrom("\n", "\n\n", " ", "—", "\u0000", "+", "=", "-1", "99999999999999999999"),
    ),
  );
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    let s = seed;
    for (const [pos, kind, text] of edits) {
      const at = s.length ? pos % (s.length + 1) : 0;
      if (kind === 0) s = s.slice(0, at) + text + s.slice(at + 1);
      else if (kind === 1) s = s.slice(0, at) + text + s.slice(at);
      else if (kind === 2) s = s.slice(0, at) + s.slice(at + 1 + (pos % 8));
      else if (kind === 3) s = s.slice(0, at);
      else {
        const lines = s.split("\n");
        const i = pos % lines.length;
        lines.splice(i, 0, lines[i]!);
        s = lines.join("\n");
      }
    }
    return s;
  });
}

/** Text to throw at a parser: random strings, random bytes as latin1, and edits of `seeds`. */
const textFor = (...seeds: string[]): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1")),
    ...seeds.map(mutated),
  );

/** A JSON value with one random path replaced by an arbitrary value, or deleted. */
function mutatedJson(seed: unknown): fc.Arbitrary<unknown> {
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, p: (string | number)[]) => {
    paths.push(p);
    if (Array.isArray(v)) {
      for (const [i, x] of v.slice(0, 5).entries()) walk(x, [...p, i]);
    } else if (v && typeof v === "object")
      for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
  };
  walk(seed, []);
  const weird = fc.oneof(
    fc.anything({ maxDepth: 2 }),
    fc.constantFrom(
      null,
      -1,
      1.5,
      2 ** 53,
      Number.MAX_VALUE,
      "",
      "\u0000",
      "x".repeat(70_000),
      [],
      {},
      "AAAA",
      "not base64!",
      "__proto__",
    ),
  );
  return fc.tuple(fc.nat(), weird, fc.boolean()).map(([i, value, del]) => {
    const copy = structuredClone(seed) as Record<string | number, unknown>;
    const path = paths[i % paths.length]!;
    if (path.length === 0) return value;
    let at: Record<string | number, unknown> = copy;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (del && !Array.isArray(at)) delete at[last];
    else at[last] = value;
    return copy;
  });
}

const jsonFor = (seed: unknown): fc.Arbitrary<unknown> =>
  fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.anything({ maxDepth: 2 }), mutatedJson(seed));

// Valid inputs to start from.
const logVerifier = parseVerifierKey(TEST_KEY.verifierKey);
const witness = generateKey("fuzz.witness", new Uint8Array(32).fill(9));
const witnessVerifier = parseVerifierKey(cosignatureVerifierKey(witness.verifierKey));
const root = rfc6962.leaf(new Uint8Array([1]));
const cpText = formatCheckpoint({ origin: ORIGIN, size: 5, root });
const cosigLine = cosign(cpText, parseSignerKey(witness.signerKey), 1_764_000_000);
const note = `${signNote(cpText, [parseSignerKey(TEST_KEY.signerKey)])}${cosigLine}`;
const proofHashes = [root, rfc6962.leaf(new Uint8Array([2])), rfc6962.leaf(new Uint8Array([3]))];
const addBody = formatAddCheckpoint({ old: 3, proof: proofHashes, checkpoint: note });
const tlogProof = formatTlogProof({ index: 2, proof: proofHashes, checkpoint: note });
const submission = makeBatch(1, 7)[0]!;
const command = makeBatch(1, 8, {
  type: "command",
  content: JSON.stringify({
    line: "ls",
    cwd: "/",
    exit: 0,
    start: "2026-11-24T19:00:00.000Z",
    end: "2026-11-24T19:00:01.000Z",
  }),
})[0]!;
const leafText = utf8Decode(parseSubmission(submission).leaf);

// Bounded: each property has a fixed number of runs, and each test a minute at most.
describe("parsers throw only TrailErrors", { timeout: 60_000 }, () => {
  let filled: TestLog;
  let bundle: unknown;
  beforeAll(async () => {
    filled = await openFilledLog(6);
    const [s] = (await (await filled.req("/v1/sessions")).json()) as { id: string }[];
    const res = await filled.req(`/v1/sessions/${s!.id}/export`);
    if (res.status !== 200) throw new Error(`export: ${res.status} ${await res.text()}`);
    bundle = await res.json();
  }, 60_000);
  afterAll(() => filled?.close());

  it("signed notes and signature lines", () => {
    fc.assert(
      fc.property(textFor(note), (t) => {
        onlyTrailErrors(() => splitNote(t));
        onlyTrailErrors(() => openNote(t, [logVerifier]));
        onlyTrailErrors(() =>
          openNote(new TextEncoder().encode(t), [logVerifier, witnessVerifier]),
        );
        for (const line of t.split("\n")) onlyTrailErrors(() => parseSignatureLine(line));
      }),
      { numRuns: RUNS },
    );
  });

  it("checkpoints and cosignatures", () => {
    fc.assert(
      fc.property(textFor(note, cpText, cosigLine), fc.nat({ max: 2 }), (t, quorum) => {
        onlyTrailErrors(() => parseCheckpoint(t));
        onlyTrailErrors(() => openCheckpoint(t, [logVerifier], [witnessVerifier], quorum));
        onlyTrailErrors(() => openCheckpoint(t, [logVerifier], [], 0, ORIGIN));
        onlyTrailErrors(() => verifyCosignature(cpText, t, witnessVerifier));
        onlyTrailErrors(() => verifyCosignature(t, cosigLine, witnessVerifier));
        onlyTrailErrors(() => cosignatureTime(new TextEncoder().encode(t)));
      }),
      { numRuns: RUNS },
    );
  });

  it("tile paths", () => {
    const seeds = [
      hashTilePath({ level: 0, index: 1_234_067, width: 256 }),
      hashTilePath({ level: 2, index: 5, width: 17 }),
      entriesPath(1000, 3),
      "tile/entries/x001/x234/067.p/255",
    ];
    fc.assert(
      fc.property(textFor(...seeds), (t) => onlyTrailErrors(() => parseTilePath(t))),
      { numRuns: RUNS * 2 },
    );
  });

  it("add-checkpoint bodies (the witness's parser)", () => {
    fc.assert(
      fc.property(textFor(addBody), (t) => onlyTrailErrors(() => parseAddCheckpoint(t))),
      { numRuns: RUNS },
    );
  });

  it("tlog-proof text, parsed and verified", () => {
    fc.assert(
      fc.property(textFor(tlogProof), (t) => {
        onlyTrailErrors(() => parseTlogProof(t));
        onlyTrailErrors(() => verifyTlogProof(t, root, [logVerifier], [witnessVerifier], 1));
      }),
      { numRuns: RUNS },
    );
  });

  it("event submissions, leaves and command content", () => {
    fc.assert(
      fc.property(jsonFor(submission), jsonFor(command), (a, b) => {
        onlyTrailErrors(() => parseSubmission(a));
        onlyTrailErrors(() => parseSubmission(b));
        if (b && typeof b === "object" && typeof (b as { content?: unknown }).content === "string")
          onlyTrailErrors(() =>
            parseCommandContent(new TextEncoder().encode((b as { content: string }).content)),
          );
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(textFor(leafText), fc.uint8Array({ maxLength: 400 }), (t, bytes) => {
        onlyTrailErrors(() => parseLeaf(new TextEncoder().encode(t)));
        onlyTrailErrors(() => parseLeaf(bytes));
        onlyTrailErrors(() => parseCommandContent(new TextEncoder().encode(t)));
        onlyTrailErrors(() => parseCommandContent(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it("entry bundles", () => {
    const valid = encodeBundle([new Uint8Array(3), new Uint8Array(0), new Uint8Array(300)]);
    const edits = fc
      .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 })
      .chain((e) =>
        fc.nat({ max: valid.length }).map((cut) => {
          const b = valid.slice(0, cut);
          for (const [i, v] of e) if (b.length) b[i % b.length] = v;
          return b;
        }),
      );
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 600 }), edits),
        fc.option(fc.integer({ min: -2, max: 300 })),
        (bytes, count) => onlyTrailErrors(() => decodeBundle(bytes, count ?? undefined)),
      ),
      { numRuns: RUNS },
    );
  });

  it("keys", () => {
    fc.assert(
      fc.property(
        textFor(TEST_KEY.verifierKey, TEST_KEY.signerKey, witnessVerifier.name),
        textFor(cosignatureVerifierKey(witness.verifierKey)),
        (a, b) => {
          onlyTrailErrors(() => parseVerifierKey(a));
          onlyTrailErrors(() => parseSignerKey(a));
          onlyTrailErrors(() => cosignatureVerifierKey(a));
          onlyTrailErrors(() => parseVerifierKey(b));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("encodings", () => {
    fc.assert(
      fc.property(
        textFor(base64Encode(root), "00ff", "12345"),
        fc.option(fc.integer({ min: -1, max: 64 })),
        (t, len) => {
          onlyTrailErrors(() => base64Decode(t, "x", len ?? undefined));
          onlyTrailErrors(() => hexDecode(t, "x", len ?? undefined));
          onlyTrailErrors(() => parseDecimal(t, "x"));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("session bundles, parsed and verified", () => {
    fc.assert(
      fc.property(jsonFor(bundle), (b) => {
        let parsed: ReturnType<typeof parseSessionBundle> | undefined;
        onlyTrailErrors(() => {
          parsed = parseSessionBundle(b);
        });
        // A bundle that parses may still be wrong: verification reports, it does not crash.
        if (parsed) onlyTrailErrors(() => verifySessionBundle(parsed!));
      }),
      { numRuns: RUNS },
    );
  });
});
