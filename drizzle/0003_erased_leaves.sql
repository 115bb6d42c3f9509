-- Erasure is permanent (DESIGN section 5): the leaf hashes whose payloads were erased, kept for
-- good, and no payload stored for them again, whoever resubmits the event (an agent's retry, a
-- replay). src/server/erase.ts records them in the transaction that deletes the payloads.
CREATE TABLE "erased_leaves" (
	"leaf_hash" "bytea" PRIMARY KEY NOT NULL,
	"erased_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- A payload inserted for an erased leaf is deleted again in the inserting statement, so it never
-- commits. After the insert, not before: an insert that waited for the erasing transaction (the
-- payload's unique key, which that transaction's DELETE held) runs this check after that
-- transaction committed and so sees its erased_leaves rows; a BEFORE trigger or a filter in the
-- INSERT would have looked before. One statement per insert statement (transition table), on
-- every write path: any process, the pipelined sequencer, retention, or SQL typed by hand.
-- The probe is one index lookup per inserted row (LATERAL ... LIMIT 1, as the sequencer's
-- lookups: a join was free to scan the whole table).
CREATE FUNCTION tmuxtrail_stay_erased() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format(
    'DELETE FROM %1$I.payloads p WHERE p.leaf_hash IN
       (SELECT n.leaf_hash FROM new_payloads n
          CROSS JOIN LATERAL (SELECT 1 FROM %1$I.erased_leaves x
                               WHERE x.leaf_hash = n.leaf_hash LIMIT 1) e)',
    TG_TABLE_SCHEMA);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER payloads_stay_erased AFTER INSERT ON payloads REFERENCING NEW TABLE AS new_payloads
  FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_stay_erased();
--> statement-breakpoint
CREATE TRIGGER erased_leaves_append_only BEFORE UPDATE OR DELETE ON erased_leaves FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER erased_leaves_no_truncate BEFORE TRUNCATE ON erased_leaves FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
-- Backfill, for a log erased before this table existed: every leaf named by one of the log's own
-- erasure events (host = the origin of the newest checkpoint, server "log", pane "erasure"; a
-- range counts only below the event's own index, as `audit` reads it) whose payload is gone. An
-- event whose leaf cannot be read is skipped with a warning (`audit` names it), not a failed start.
DO $$
DECLARE
  log_origin text;
  ev record;
BEGIN
  SELECT split_part(c.note, E'\n', 1) INTO log_origin FROM checkpoints c ORDER BY c.size DESC LIMIT 1;
  FOR ev IN
    SELECT l.idx, e.leaf FROM leaves l JOIN entries e ON e.leaf_hash = l.leaf_hash
     WHERE l.type = 'erasure' AND l.host = log_origin AND l.server = 'log' AND l.pane = 'erasure'
     ORDER BY l.idx
  LOOP
    BEGIN
      INSERT INTO erased_leaves (leaf_hash)
      SELECT t.leaf_hash
        FROM jsonb_array_elements(convert_from(ev.leaf, 'UTF8')::jsonb -> 'erasure' -> 'indexes') AS r(pair)
        JOIN leaves t ON t.idx BETWEEN (r.pair ->> 0)::int8 AND LEAST((r.pair ->> 1)::int8, ev.idx - 1)
       WHERE NOT EXISTS (SELECT 1 FROM payloads p WHERE p.leaf_hash = t.leaf_hash)
      ON CONFLICT DO NOTHING;
    EXCEPTION WHEN others THEN
      RAISE WARNING 'tmuxtrail: the erasure event at index % could not be read (%): its leaves are not marked erased', ev.idx, SQLERRM;
    END;
  END LOOP;
END $$;
