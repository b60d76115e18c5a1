-- Tenant state owned by team-management: teams, members, API keys and the audit log.
CREATE TABLE teams (
  id           TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  -- TeamSettings as JSON: model_access, monthly_budget, rate_limits, cost_center.
  settings     JSONB NOT NULL DEFAULT '{}'::jsonb,
  -- Increases with every change; principal caches compare it.
  version      BIGINT NOT NULL DEFAULT 1,
  create_time  TIMESTAMPTZ NOT NULL DEFAULT now(),
  update_time  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE team_members (
  team_id     TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
  user_id     TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  create_time TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (team_id, user_id)
);

CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,
  team_id      TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
  user_id      TEXT NOT NULL,
  display_name TEXT NOT NULL DEFAULT '',
  -- SHA-256 of the whole key; the key itself is shown once and never stored.
  key_hash     BYTEA NOT NULL UNIQUE,
  -- The first characters of the key, shown in listings.
  prefix       TEXT NOT NULL,
  created_by   TEXT NOT NULL,
  create_time  TIMESTAMPTZ NOT NULL DEFAULT now(),
  expire_time  TIMESTAMPTZ,
  revoke_time  TIMESTAMPTZ
);
CREATE INDEX api_keys_team ON api_keys (team_id, create_time);

CREATE TABLE audit_log (
  id          BIGSERIAL PRIMARY KEY,
  team_id     TEXT,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  resource    TEXT NOT NULL,
  before      JSONB,
  after       JSONB,
  request_id  TEXT,
  create_time TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_team ON audit_log (team_id, id);
