// The witness's own database (never the log's): the newest checkpoint it cosigned per log, the
// hash tiles it verified against those checkpoints, the peer heads it could not yet compare with
// its own, and the fork evidence it collected. Migrations in drizzle/witness
// (drizzle.witness.config.ts).

import {
  bigint,
  customType,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from "drizzle-orm/pg-core";

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "bytea" });

/** Per log origin: the size and root the witness last cosigned, and that cosigned note. */
export const witnessLogs = pgTable("witness_logs", {
  origin: text("origin").primaryKey(),
  size: bigint("size", { mode: "number" }).notNull(),
  root: bytea("root").notNull(),
  /** The checkpoint note with the log's signature and this witness's cosignature. */
  note: text("note").notNull(),
  /** The size at which every hash tile of witness_tiles is held and bound to a cosigned root. */
  tilesSize: bigint("tiles_size", { mode: "number" }).notNull().default(0),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

/** Two validly signed, inconsistent checkpoints of one log: self-contained evidence of a fork. */
export const evidence = pgTable("evidence", {
  id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
  origin: text("origin").notNull(),
  kind: text("kind").notNull(),
  noteA: text("note_a").notNull(),
  noteB: text("note_b").notNull(),
  /** Base64 consistency proof hashes from the smaller to the larger tree, when one was checked. */
  proof: text("proof").array(),
  detail: text("detail").notNull(),
  detected: timestamp("detected", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Hash tiles (C2SP tlog-tiles) of the logs followed, each verified against a checkpoint this witness
 * cosigned (tiles.ts); one row per tile, a wider tile replacing a narrower one. Served at
 * /<hex SHA-256(origin)>/tile/<L>/<N>[.p/<W>] so a peer can build consistency proofs from them.
 */
export const witnessTiles = pgTable(
  "witness_tiles",
  {
    origin: text("origin").notNull(),
    level: integer("level").notNull(),
    idx: bigint("idx", { mode: "number" }).notNull(),
    width: integer("width").notNull(),
    data: bytea("data").notNull(),
  },
  (t) => [primaryKey({ columns: [t.origin, t.level, t.idx] })],
);

/**
 * A peer's head for a log that could not be compared with this witness's own (tiles withheld,
 * peer unreachable, timeout): since when, and why. Deleted when a comparison completes.
 */
export const unreconciled = pgTable(
  "witness_unreconciled",
  {
    origin: text("origin").notNull(),
    peer: text("peer").notNull(),
    peerSize: bigint("peer_size", { mode: "number" }),
    since: timestamp("since", { withTimezone: true }).notNull().defaultNow(),
    reason: text("reason").notNull(),
  },
  (t) => [primaryKey({ columns: [t.origin, t.peer] })],
);
