-- Storage v2's rules (docs/design.md §4.9), as 0001 does for the v1 tables. A superuser can still
-- disable triggers; `tmuxtrail audit` recomputes every leaf hash and content commitment from the
-- batches to catch that.
--
-- Stored parts are already compressed: PostgreSQL is told not to try again (EXTERNAL: out of line,
-- uncompressed).
ALTER TABLE batches ALTER COLUMN leaves SET STORAGE EXTERNAL;
--> statement-breakpoint
ALTER TABLE batches ALTER COLUMN contents SET STORAGE EXTERNAL;
--> statement-breakpoint
-- A batch's id, codec, count, leaves part and staging time never change; `integrated` only turns
-- true; the contents part may be rewritten (erasure and the sequencer's scrub, src/db/batch-store.ts
-- rewriteContents), each rewrite raising `version` by one (so it cannot be run up to overflow). Column triggers: the
-- sequencer's `SET integrated = true`, in the locked section, fires only the cheap one and never
-- reads the large parts.
CREATE TRIGGER batches_fixed BEFORE UPDATE OF id, codec, count, leaves, staged_at ON batches FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE FUNCTION tmuxtrail_batch_integrated_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.integrated AND NOT NEW.integrated THEN
    RAISE EXCEPTION 'tmuxtrail: UPDATE of batch % refused: a batch in the tree stays integrated', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE TRIGGER batches_integrated_once BEFORE UPDATE OF integrated ON batches FOR EACH ROW EXECUTE FUNCTION tmuxtrail_batch_integrated_once();
--> statement-breakpoint
CREATE FUNCTION tmuxtrail_batch_contents_versioned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.version < OLD.version OR NEW.version > OLD.version + 1 THEN
    RAISE EXCEPTION 'tmuxtrail: UPDATE of batch % refused: its version only rises by one a rewrite', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.version = OLD.version THEN
    IF NEW.contents IS DISTINCT FROM OLD.contents THEN
      RAISE EXCEPTION 'tmuxtrail: UPDATE of batch % refused: a contents rewrite must raise its version', OLD.id
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE TRIGGER batches_contents_versioned BEFORE UPDATE OF contents, version ON batches FOR EACH ROW EXECUTE FUNCTION tmuxtrail_batch_contents_versioned();
--> statement-breakpoint
-- Only a batch whose leaves never entered the tree may be deleted (erasure's sweep of batches
-- staged by a process that died before integrating them).
CREATE FUNCTION tmuxtrail_batch_delete_orphan_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.integrated THEN
    RAISE EXCEPTION 'tmuxtrail: batch % holds leaves of the tree and may not be deleted', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN OLD;
END $$;
--> statement-breakpoint
CREATE TRIGGER batches_delete_orphan_only BEFORE DELETE ON batches FOR EACH ROW EXECUTE FUNCTION tmuxtrail_batch_delete_orphan_only();
--> statement-breakpoint
CREATE TRIGGER batches_no_truncate BEFORE TRUNCATE ON batches FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
-- leaves stay append-only, except that the upgrade sets a v1 leaf's (batch, slot) once.
CREATE FUNCTION tmuxtrail_leaf_place_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.batch IS NOT NULL OR OLD.slot IS NOT NULL OR NEW.batch IS NULL OR NEW.slot IS NULL
     OR NEW.idx <> OLD.idx OR NEW.leaf_hash <> OLD.leaf_hash
     OR NEW.host IS DISTINCT FROM OLD.host OR NEW.server IS DISTINCT FROM OLD.server
     OR NEW.pane IS DISTINCT FROM OLD.pane OR NEW.seq IS DISTINCT FROM OLD.seq
     OR NEW.session IS DISTINCT FROM OLD.session OR NEW.type IS DISTINCT FROM OLD.type
     OR NEW."user" IS DISTINCT FROM OLD."user" OR NEW.time IS DISTINCT FROM OLD.time THEN
    RAISE EXCEPTION 'tmuxtrail: UPDATE of %.% refused: the log is append-only', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
DROP TRIGGER leaves_append_only ON leaves;
--> statement-breakpoint
CREATE TRIGGER leaves_no_delete BEFORE DELETE ON leaves FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER leaves_place_once BEFORE UPDATE ON leaves FOR EACH ROW EXECUTE FUNCTION tmuxtrail_leaf_place_once();
--> statement-breakpoint
-- command_payloads: like payloads, deleted by erasure, never changed, never stored again for an
-- erased leaf (the same AFTER INSERT check as 0003's, on this table).
CREATE TRIGGER command_payloads_no_update BEFORE UPDATE ON command_payloads FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER command_payloads_no_truncate BEFORE TRUNCATE ON command_payloads FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE FUNCTION tmuxtrail_commands_stay_erased() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format(
    'DELETE FROM %1$I.command_payloads p WHERE p.leaf_hash IN
       (SELECT n.leaf_hash FROM new_rows n
          CROSS JOIN LATERAL (SELECT 1 FROM %1$I.erased_leaves x
                               WHERE x.leaf_hash = n.leaf_hash LIMIT 1) e)',
    TG_TABLE_SCHEMA);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER command_payloads_stay_erased AFTER INSERT ON command_payloads REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_commands_stay_erased();
--> statement-breakpoint
-- Every leaf written from now on names its bytes; the leaves of a v1 log get theirs from the
-- upgrade (src/db/upgrade-v2.ts), so the rule is not checked on the rows already there.
ALTER TABLE leaves ADD CONSTRAINT leaves_placed CHECK (batch IS NOT NULL AND slot IS NOT NULL) NOT VALID;
--> statement-breakpoint
-- A process of the previous release still running during the upgrade fails loudly instead of
-- writing rows the upgrade has already passed (and that the drop would lose): v1's tables are
-- read-only until the upgrade drops them.
CREATE TRIGGER entries_v1_read_only BEFORE INSERT OR DELETE ON entries FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER payloads_v1_read_only BEFORE INSERT OR DELETE ON payloads FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
