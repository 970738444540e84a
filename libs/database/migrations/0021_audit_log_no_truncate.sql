-- The audit log's append-only guard was a row trigger on UPDATE and DELETE: TRUNCATE, which fires no row
-- trigger, emptied it. A statement trigger refuses TRUNCATE too.
CREATE TRIGGER "audit_log_no_truncate" BEFORE TRUNCATE ON "audit_log"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_log_append_only"();
