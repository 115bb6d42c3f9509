-- Append-only in the database too (DESIGN section 5). A superuser can still disable triggers;
-- `tmuxtrail audit` recomputes every hash from storage to catch that.
CREATE FUNCTION tmuxtrail_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'tmuxtrail: % of %.% refused: the log is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;
--> statement-breakpoint
CREATE FUNCTION tmuxtrail_tile_extend_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.level <> OLD.level OR NEW.idx <> OLD.idx
     OR length(NEW.hashes) < length(OLD.hashes)
     OR substring(NEW.hashes FROM 1 FOR length(OLD.hashes)) <> OLD.hashes THEN
    RAISE EXCEPTION 'tmuxtrail: tile %/% may only be extended', OLD.level, OLD.idx
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE FUNCTION tmuxtrail_state_grow_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.size < OLD.size THEN
    RAISE EXCEPTION 'tmuxtrail: the tree may not shrink (% -> %)', OLD.size, NEW.size
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE FUNCTION tmuxtrail_key_revoke_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id <> OLD.id OR NEW.name <> OLD.name OR NEW.scopes <> OLD.scopes
     OR NEW.host IS DISTINCT FROM OLD.host OR NEW.token_hash <> OLD.token_hash
     OR NEW.created_at <> OLD.created_at OR OLD.revoked_at IS NOT NULL THEN
    RAISE EXCEPTION 'tmuxtrail: an API key can only be revoked' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER leaves_append_only BEFORE UPDATE OR DELETE ON leaves FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER cosignatures_append_only BEFORE UPDATE OR DELETE ON cosignatures FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER payloads_no_update BEFORE UPDATE ON payloads FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER tiles_no_delete BEFORE DELETE ON tiles FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER tiles_extend_only BEFORE UPDATE ON tiles FOR EACH ROW EXECUTE FUNCTION tmuxtrail_tile_extend_only();
--> statement-breakpoint
CREATE TRIGGER log_state_no_delete BEFORE DELETE ON log_state FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER log_state_grow_only BEFORE UPDATE ON log_state FOR EACH ROW EXECUTE FUNCTION tmuxtrail_state_grow_only();
--> statement-breakpoint
CREATE TRIGGER api_keys_revoke_only BEFORE UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION tmuxtrail_key_revoke_only();
--> statement-breakpoint
CREATE TRIGGER api_keys_no_delete BEFORE DELETE ON api_keys FOR EACH ROW EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER leaves_no_truncate BEFORE TRUNCATE ON leaves FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER cosignatures_no_truncate BEFORE TRUNCATE ON cosignatures FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER payloads_no_truncate BEFORE TRUNCATE ON payloads FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER tiles_no_truncate BEFORE TRUNCATE ON tiles FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_refuse();
--> statement-breakpoint
CREATE TRIGGER log_state_no_truncate BEFORE TRUNCATE ON log_state FOR EACH STATEMENT EXECUTE FUNCTION tmuxtrail_refuse();
