-- Budget alerts: each of a team's thresholds (a percentage of its monthly budget) announced once a
-- month, when the month's spend reaches it. usage-metering inserts the row (and its audit entry)
-- and delivers it to the team's webhook, signed with the team's secret, retrying with backoff.
ALTER TABLE teams ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT '';

CREATE TABLE budget_alerts (
  id                BIGSERIAL PRIMARY KEY,
  team_id           TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
  -- The calendar month (UTC), as its first day.
  month             DATE NOT NULL,
  threshold_percent INTEGER NOT NULL,
  spent_nano_usd    BIGINT NOT NULL,
  budget_nano_usd   BIGINT NOT NULL,
  create_time       TIMESTAMPTZ NOT NULL DEFAULT now(),
  delivery          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (delivery IN ('pending', 'delivered', 'failed', 'none')),
  attempts          INTEGER NOT NULL DEFAULT 0,
  next_attempt_time TIMESTAMPTZ NOT NULL DEFAULT now(),
  delivered_time    TIMESTAMPTZ,
  last_error        TEXT NOT NULL DEFAULT '',
  UNIQUE (team_id, month, threshold_percent)
);
CREATE INDEX budget_alerts_pending ON budget_alerts (next_attempt_time) WHERE delivery = 'pending';
