// GET /openapi.json: an OpenAPI 3.1 description generated from the same zod schemas that validate
// input (src/core/events.ts, the keys route), so the document cannot drift from the checks. Those
// of src/core are zod/mini, the routes' full zod: both are zod/v4/core schemas, which one
// z.toJSONSchema reads.
//
// Longer than most files: a declarative table, one entry per route (boilerplate by design).

import { z } from "zod";
import { commandContentSchema, submissionSchema } from "../core/events.ts";
import { erasureRequestSchema } from "./routes/erasures.ts";
import { createKeyBody } from "./routes/keys.ts";

const json = (schema: object) => ({ content: { "application/json": { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = { description: "error", ...json(ref("Error")) };
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), error]));
const bearer = [{ bearer: [] }];
const waitParam = {
  name: "wait",
  in: "query",
  description:
    "checkpoint: answer once a checkpoint with the witness quorum covers the leaves; 504 checkpoint-timeout (the leaves listed in error.results, sequenced all the same) after serve --wait-timeout",
  schema: { enum: ["checkpoint"] },
};
const q = (name: string, description: string, required = false) => ({
  name,
  in: "query",
  required,
  description,
  schema: {
    type:
      name === "hash" ||
      name === "host" ||
      name === "user" ||
      name.endsWith("since") ||
      name.endsWith("until")
        ? "string"
        : "integer",
    minimum: 0,
  },
});

/** A path parameter. */
const p = (name: string, description: string, type: "string" | "integer") => ({
  name,
  in: "path",
  required: true,
  description,
  schema: type === "integer" ? { type, minimum: 0 } : { type },
});
const sessionParam = p("id", "session id (GET /v1/sessions)", "string");

const schema = (s: z.core.$ZodType) => z.toJSONSchema(s, { unrepresentable: "any", io: "input" });

export function openApiDocument(origin: string) {
  const binary = {
    content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "tmuxtrail log",
      version: "1",
      description: `Tamper-evident tmux audit log "${origin}": C2SP tlog-tiles read API, signed checkpoints, submissions and proofs.`,
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Event: schema(submissionSchema),
        CommandContent: schema(commandContentSchema),
        CreateKey: schema(createKeyBody),
        SubmitResult: {
          type: "object",
          properties: {
            index: { type: "integer" },
            leafHash: { type: "string" },
            duplicate: { type: "boolean" },
          },
          required: ["index", "leafHash", "duplicate"],
        },
        Error: {
          type: "object",
          properties: {
            error: {
              type: "object",
              properties: { code: { type: "string" }, message: { type: "string" } },
              required: ["code", "message"],
            },
          },
          required: ["error"],
        },
      },
    },
    paths: {
      "/checkpoint": {
        get: {
          summary: "The newest signed checkpoint with its cosignatures (C2SP signed note)",
          responses: {
            "200": { description: "checkpoint", content: { "text/plain": {} } },
            ...errors(404),
          },
        },
      },
      "/tile/{level}/{index}": {
        get: {
          summary: "A hash tile (C2SP tlog-tiles); append .p/<W> for a partial tile",
          responses: { "200": { description: "tile", ...binary }, ...errors(400, 404) },
        },
      },
      "/tile/entries/{index}": {
        get: {
          summary: "An entry bundle (read scope)",
          security: bearer,
          responses: { "200": { description: "bundle", ...binary }, ...errors(400, 401, 403, 404) },
        },
      },
      "/v1/events": {
        post: {
          summary: "Submit up to 1000 tmux events (submit scope, the key's host only)",
          description:
            "Each event is its metadata (the leaf: RFC 8785 canonical JSON) plus `content` (UTF-8 text, or base64 with `enc: base64`) and a random 32-byte `salt` (base64), which never enter the leaf; `payload.size` is the content's length in bytes and `payload.sha256 = base64(SHA-256(salt ‖ content bytes))`. The README's HTTP API section has a worked example.",
          security: bearer,
          parameters: [waitParam],
          requestBody: json({ type: "array", items: ref("Event"), minItems: 1, maxItems: 1000 }),
          responses: {
            "200": {
              description: "sequenced",
              ...json({ type: "array", items: ref("SubmitResult") }),
            },
            ...errors(400, 401, 403, 409, 413, 415, 422, 429, 503, 504),
          },
        },
      },
      "/v1/leaves": {
        post: {
          summary: "Submit one opaque leaf of 0..65535 bytes (submit scope)",
          security: bearer,
          parameters: [waitParam],
          requestBody: binary,
          responses: {
            "200": { description: "sequenced", ...json(ref("SubmitResult")) },
            ...errors(401, 403, 413, 415, 429, 503, 504),
          },
        },
      },
      "/v1/proof/inclusion": {
        get: {
          summary: "Inclusion proof by index or leaf hash (read scope)",
          security: bearer,
          parameters: [
            q("index", "leaf index"),
            q("hash", "base64 leaf hash"),
            q("size", "tree size", true),
          ],
          responses: {
            "200": { description: "proof", ...json({ type: "object" }) },
            ...errors(400, 401, 403, 404),
          },
        },
      },
      "/v1/proof/consistency": {
        get: {
          summary: "Consistency proof between two published sizes (read scope)",
          security: bearer,
          parameters: [q("from", "older size", true), q("to", "newer size", true)],
          responses: {
            "200": { description: "proof", ...json({ type: "object" }) },
            ...errors(400, 401, 403),
          },
        },
      },
      "/v1/entries/{index}": {
        get: {
          summary: "A leaf, its payload unless erased, and a proof (read scope)",
          security: bearer,
          parameters: [p("index", "leaf index", "integer")],
          responses: {
            "200": { description: "entry", ...json({ type: "object" }) },
            ...errors(400, 401, 403, 404, 429, 503),
          },
        },
      },
      "/v1/entries": {
        get: {
          summary:
            "A run of entries in tree order with their payloads unless erased (read scope); reading content records an access event first (503 when it cannot)",
          security: bearer,
          parameters: [q("from", "first index (default 0)"), q("limit", "1..10000 (default 1000)")],
          responses: {
            "200": {
              description: "entries",
              ...json({ type: "array", items: { type: "object" } }),
            },
            ...errors(400, 401, 403, 429, 503),
          },
        },
      },
      "/v1/sessions": {
        get: {
          summary: "Sessions, newest first (read scope)",
          security: bearer,
          parameters: [
            q("host", "host"),
            q("user", "user"),
            q("since", "RFC 3339 time"),
            q("until", "RFC 3339 time"),
            q("limit", "1..1000"),
            {
              name: "command",
              in: "query",
              description:
                "sessions that ran a command line containing this text (case-insensitive, 1..256 characters); the search reads content, so it is recorded as an access event first and rate-limited per key (serve --search-rate-limit, 429 with Retry-After)",
              schema: { type: "string", minLength: 1, maxLength: 256 },
            },
          ],
          responses: {
            "200": { description: "sessions", ...json({ type: "array" }) },
            ...errors(400, 401, 403, 429, 503),
          },
        },
      },
      "/v1/sessions/{id}": {
        get: {
          summary: "One session (read scope)",
          security: bearer,
          parameters: [sessionParam],
          responses: {
            "200": { description: "session", ...json({ type: "object" }) },
            ...errors(400, 401, 403, 404, 429),
          },
        },
      },
      "/v1/sessions/{id}/export": {
        get: {
          summary:
            "A session bundle, verifiable offline (read scope): v2 (default) events, content, casts and one tlog-proof per event; v3 the checkpoint once and one multi-leaf inclusion proof, streamed, optionally a time window; recorded as an access event first (503 when it cannot)",
          security: bearer,
          parameters: [
            sessionParam,
            {
              name: "format",
              in: "query",
              description: "v2 (default) or v3",
              schema: { type: "string", enum: ["v2", "v3"] },
            },
            q("since", "v3 only: the window's start, RFC 3339 (events with time ≥ since)"),
            q("until", "v3 only: the window's end, RFC 3339 (events with time < until)"),
            q(
              "size",
              "v3 only: prove against the stored checkpoint of this size (404 when there is none), so that windows read one after another are of one tree",
            ),
            {
              name: "casts",
              in: "query",
              description: "v3 only: 1 to include the casts (the verifier regenerates them anyway)",
              schema: { type: "string", enum: ["0", "1"] },
            },
          ],
          responses: {
            "200": { description: "session bundle", ...json({ type: "object" }) },
            "409": {
              description:
                "not-yet-checkpointed: no checkpoint covers the session yet (Retry-After: 1)",
              ...json(ref("Error")),
            },
            ...errors(400, 401, 403, 404, 429, 503),
          },
        },
      },
      "/v1/sessions/{id}/events": {
        get: {
          summary: "A session's events in tree order (read scope)",
          security: bearer,
          responses: {
            "200": { description: "events", ...json({ type: "object" }) },
            ...errors(400, 401, 403, 404),
          },
        },
      },
      "/v1/keys": {
        get: {
          summary: "List API keys (admin)",
          security: bearer,
          responses: {
            "200": { description: "keys", ...json({ type: "array" }) },
            ...errors(401, 403),
          },
        },
        post: {
          summary: "Create an API key (admin); the token is shown once",
          security: bearer,
          requestBody: json(ref("CreateKey")),
          responses: {
            "201": { description: "created", ...json({ type: "object" }) },
            ...errors(400, 401, 403),
          },
        },
      },
      "/v1/keys/self": {
        get: {
          summary:
            "The calling key itself (any valid key): its name, scopes and the host a submit key is bound to",
          security: bearer,
          responses: {
            "200": {
              description: "the bearer token's key",
              ...json({
                type: "object",
                properties: {
                  name: { type: "string" },
                  scopes: { type: "array", items: { type: "string" } },
                  host: { type: ["string", "null"], description: "null unless a submit key" },
                },
              }),
            },
            ...errors(401),
          },
        },
      },
      "/v1/keys/{id}": {
        delete: {
          summary: "Revoke an API key (admin)",
          security: bearer,
          responses: {
            "200": { description: "revoked", ...json({ type: "object" }) },
            ...errors(400, 401, 403, 404),
          },
        },
      },
      "/v1/erasures": {
        post: {
          summary:
            "Erase the content of one session or of every event before a time (admin); the log appends erasure events naming what went and why",
          description:
            "Answers once a checkpoint with the witness quorum covers the erasure events (as ?wait=checkpoint does), so an export right after verifies. 504 checkpoint-timeout after serve --wait-timeout: the content is erased and the erasure events sequenced all the same, listed in error.erased and error.events.",
          security: bearer,
          requestBody: json(schema(erasureRequestSchema)),
          responses: {
            "200": {
              description: "erased, and covered by a checkpoint",
              ...json({
                type: "object",
                properties: {
                  erased: { type: "integer", description: "payloads erased" },
                  events: {
                    type: "array",
                    items: { type: "integer" },
                    description: "indexes of the erasure events (none when nothing was left)",
                  },
                },
                required: ["erased", "events"],
              }),
            },
            ...errors(400, 401, 403, 404, 413, 415, 429, 504),
          },
        },
      },
      "/": {
        get: {
          summary: "The log's name, origin, verifier key, witnesses and where to find the rest",
          responses: { "200": { description: "log", ...json({ type: "object" }) } },
        },
      },
      "/openapi.json": {
        get: {
          summary: "This document",
          responses: { "200": { description: "OpenAPI 3.1", ...json({ type: "object" }) } },
        },
      },
      "/ui": {
        get: {
          summary: "The web UI (verifies in the browser)",
          responses: { "200": { description: "page", content: { "text/html": {} } } },
        },
      },
      "/ui/{path}": {
        get: {
          summary: "The web UI's pages (the same page; the UI routes in the browser)",
          parameters: [p("path", "a UI route", "string")],
          responses: { "200": { description: "page", content: { "text/html": {} } } },
        },
      },
      "/ui/assets/{name}": {
        get: {
          summary: "The web UI's built scripts and styles",
          parameters: [p("name", "asset file name", "string")],
          responses: { "200": { description: "asset" }, ...errors(404) },
        },
      },
      "/healthz": {
        get: {
          summary: "Liveness and database reachability",
          responses: { "200": { description: "ok" }, ...errors(503) },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus metrics (read scope, unless serve --public-metrics)",
          security: bearer,
          responses: { "200": { description: "metrics" }, ...errors(401, 403, 429) },
        },
      },
    },
  };
}
