// The drizzle schema of the log: the one description of its tables. drizzle-kit generates the
// migrations in drizzle/ from this file (`npm run db:generate`); `drizzle-kit check` keeps them in
// step. Hot-path SQL (sequencer, tiles) is raw SQL over the same tables, see src/db/sql.ts.
//
// What is evidence and what is not:
//   batches                              storage v2 (docs/design.md §4.9): one row per staged
//                                        batch, its leaves and its salts + contents compressed;
//                                        only the contents part may be rewritten (erasure), and
//                                        only a batch that never entered the tree be deleted
//                                        (drizzle/0006_batch_rules.sql)
//   leaves, tiles, checkpoints           append-only; triggers (drizzle/0001_append_only.sql)
//                                        refuse UPDATE/DELETE/TRUNCATE and tile rewrites; a leaf's
//                                        (batch, slot) may be set once, by the upgrade
//   command_payloads                     the contents of command events again, uncompressed, for
//                                        session search; erased with the batch slot (DELETE only)
//   erased_leaves                        leaf hashes whose payloads were erased, never stored again
//   entries, payloads                    storage v1: emptied into batches and dropped by the
//                                        upgrade (src/db/upgrade-v2.ts)
//   log_state                            the one coordination row: tree size, root and right edge
//   sessions, api_keys, conflicts, ...   operational indexes and configuration, not evidence

import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  customType,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
});
const size = (name: string) => bigint(name, { mode: "number" });
const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/** One row (id = 1): the integrated tree. Locked with SELECT … FOR UPDATE by the sequencer. */
export const logState = pgTable(
  "log_state",
  {
    id: integer("id").primaryKey(),
    size: size("size").notNull(),
    root: bytea("root").notNull(),
    /** The compact range of [0, size): hashes of its perfect subtrees, largest first, concatenated. */
    rightEdge: bytea("right_edge").notNull(),
    updatedAt: tstz("updated_at").notNull().defaultNow(),
  },
  (t) => [check("log_state_one_row", sql`${t.id} = 1`)],
);

/**
 * Storage v2: one staged batch. `leaves` and `contents` are its two parts, compressed with `codec`
 * (src/db/batch-codec.ts); `count` slots each. `integrated` turns true in the transaction that puts
 * its leaves in the tree; a batch still false long after staging never made it in (its process
 * died between the steps) and is deleted by erasure's sweep. `version` counts contents rewrites.
 */
export const batches = pgTable(
  "batches",
  {
    id: size("id").primaryKey().generatedAlwaysAsIdentity(),
    codec: integer("codec").notNull(),
    count: integer("count").notNull(),
    leaves: bytea("leaves").notNull(),
    contents: bytea("contents").notNull(),
    version: integer("version").notNull().default(0),
    integrated: boolean("integrated").notNull().default(false),
    stagedAt: tstz("staged_at").notNull().defaultNow(),
  },
  (t) => [index("batches_not_integrated").on(t.stagedAt).where(sql`NOT ${t.integrated}`)],
);

/** Storage v1 (emptied and dropped by the upgrade): leaf bytes, content-addressed. */
export const entries = pgTable("entries", {
  leafHash: bytea("leaf_hash").primaryKey(),
  leaf: bytea("leaf").notNull(),
  receivedAt: tstz("received_at").notNull().defaultNow(),
});

/** The tree: index → leaf hash, with the stream and session columns that queries and dedup use. */
export const leaves = pgTable(
  "leaves",
  {
    idx: size("idx").primaryKey(),
    // No foreign key to entries: the sequencer commits the entry before the leaf by construction,
    // and `audit` checks it; a per-row FK check would sit in the locked section.
    leafHash: bytea("leaf_hash").notNull(),
    host: text("host"),
    server: text("server"),
    pane: text("pane"),
    seq: size("seq"),
    session: text("session"),
    type: text("type"),
    user: text("user"),
    time: tstz("time"),
    /** Where the leaf's bytes are: batches.id and the slot in it (null only before the upgrade). */
    batch: size("batch"),
    slot: integer("slot"),
  },
  (t) => [
    uniqueIndex("leaves_leaf_hash").on(t.leafHash),
    uniqueIndex("leaves_stream_seq").on(t.host, t.server, t.pane, t.seq),
    // Session first: with (host, server) leading, a planner without statistics picked this index
    // for stream-position probes and filtered the whole host per probe.
    index("leaves_session").on(t.session, t.host, t.server, t.idx),
    // A time window of a session's export (?since=&until=) finds its first and last index here
    // instead of walking the session's events from its start (issue 19; docs/performance.md).
    index("leaves_session_time").on(t.session, t.host, t.server, t.time, t.idx),
    // Searching sessions by command line (GET /v1/sessions?command=) visits command events only.
    index("leaves_commands").on(t.session, t.host, t.server).where(sql`${t.type} = 'command'`),
  ],
);

/**
 * The content of each command event in the tree, uncompressed, for session search by command line
 * (GET /v1/sessions?command=, an audited read). A copy of what its batch slot holds: deleted by
 * erasure with it, never changed, and never stored again for an erased leaf (a trigger).
 */
export const commandPayloads = pgTable("command_payloads", {
  leafHash: bytea("leaf_hash").primaryKey(),
  content: bytea("content").notNull(),
  stagedAt: tstz("staged_at").notNull().defaultNow(),
});

/** Storage v1 (emptied and dropped by the upgrade): content and salt of an event. */
export const payloads = pgTable("payloads", {
  leafHash: bytea("leaf_hash").primaryKey(),
  salt: bytea("salt").notNull(),
  content: bytea("content").notNull(),
});

/**
 * The leaf hashes whose payloads were erased: erasure is permanent (docs/design.md §4.5). Written in
 * the transaction that deletes the payloads; a trigger (drizzle/0003_erased_leaves.sql) deletes any
 * payload inserted later for one of them, whoever resubmits the event, so no content is stored for
 * it again. Append-only like the tree.
 */
export const erasedLeaves = pgTable("erased_leaves", {
  leafHash: bytea("leaf_hash").primaryKey(),
  erasedAt: tstz("erased_at").notNull().defaultNow(),
});

/** Hash tiles (C2SP tlog-tiles, height 8): the longest known prefix of tile (level, idx). */
export const tiles = pgTable(
  "tiles",
  {
    level: integer("level").notNull(),
    idx: size("idx").notNull(),
    hashes: bytea("hashes").notNull(),
  },
  (t) => [primaryKey({ columns: [t.level, t.idx] })],
);

/** Every checkpoint the log signed, in order of size. */
export const checkpoints = pgTable("checkpoints", {
  size: size("size").primaryKey(),
  root: bytea("root").notNull(),
  note: text("note").notNull(),
  createdAt: tstz("created_at").notNull().defaultNow(),
});

/** Witness cosignatures collected for a checkpoint (one line per witness key). */
export const cosignatures = pgTable(
  "cosignatures",
  {
    size: size("size").notNull(),
    witness: text("witness").notNull(),
    line: text("line").notNull(),
    time: size("time").notNull(),
    createdAt: tstz("created_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.size, t.witness] })],
);

/** Sessions seen in the tree: an index for listing, maintained by the sequencer. */
export const sessions = pgTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    host: text("host").notNull(),
    server: text("server").notNull(),
    session: text("session").notNull(),
    user: text("user").notNull(),
    firstIdx: size("first_idx").notNull(),
    lastIdx: size("last_idx").notNull(),
    firstTime: tstz("first_time").notNull(),
    lastTime: tstz("last_time").notNull(),
    events: size("events").notNull(),
  },
  (t) => [
    uniqueIndex("sessions_key").on(t.host, t.server, t.session),
    index("sessions_last_time").on(t.lastTime),
    index("sessions_host_time").on(t.host, t.lastTime),
    index("sessions_user_time").on(t.user, t.lastTime),
  ],
);

/** API keys: only a SHA-256 of the token is stored. */
export const apiKeys = pgTable("api_keys", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  scopes: text("scopes").array().notNull(),
  host: text("host"),
  tokenHash: bytea("token_hash").notNull().unique(),
  createdAt: tstz("created_at").notNull().defaultNow(),
  revokedAt: tstz("revoked_at"),
});

/** Rejected submissions that conflicted with a filled stream position: for operators, not leaves. */
export const conflicts = pgTable("conflicts", {
  id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
  host: text("host").notNull(),
  server: text("server").notNull(),
  pane: text("pane").notNull(),
  seq: size("seq").notNull(),
  existingLeafHash: bytea("existing_leaf_hash").notNull(),
  rejectedLeaf: bytea("rejected_leaf").notNull(),
  keyId: text("key_id"),
  at: tstz("at").notNull().defaultNow(),
});
