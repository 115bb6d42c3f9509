// The witness's own database (never the log's): the newest checkpoint it cosigned per log, and
// the fork evidence it collected. Migrations in drizzle/witness (drizzle.witness.config.ts).

import { bigint, customType, integer, pgTable, text, timestamp } from "drizzle-orm/pg-core";

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "bytea" });

/** Per log origin: the size and root the witness last cosigned, and that cosigned note. */
export const witnessLogs = pgTable("witness_logs", {
  origin: text("origin").primaryKey(),
  size: bigint("size", { mode: "number" }).notNull(),
  root: bytea("root").notNull(),
  /** The checkpoint note with the log's signature and this witness's cosignature. */
  note: text("note").notNull(),
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
