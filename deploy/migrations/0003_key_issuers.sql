-- Hardening, round two: every audit entry names the key that acted beside its member, and every
-- key the key that issued it (created_by was already its member).
ALTER TABLE audit_log ADD COLUMN actor_key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN created_by_key_id TEXT NOT NULL DEFAULT '';
