-- Owned by usage-metering: one row per request the router admitted, written when its settlement
-- arrives (docs/usage.md). Range-partitioned by month of start_time; usage-metering creates the
-- monthly partitions ahead of time (usage_events_YYYYMM) and detaches and drops those older than
-- its retention. The primary key holds the partition key, as Postgres requires: a settlement
-- retried with the same request id and start time is recorded once.
CREATE TABLE usage_events (
  request_id         TEXT NOT NULL,
  start_time         TIMESTAMPTZ NOT NULL,
  -- '' for the bootstrap admin, who belongs to no team.
  team_id            TEXT NOT NULL,
  key_id             TEXT NOT NULL,
  member             TEXT NOT NULL,
  cost_center        TEXT NOT NULL,
  kind               TEXT NOT NULL CHECK (kind IN ('chat', 'embeddings')),
  model              TEXT NOT NULL,
  provider           TEXT NOT NULL,
  upstream_model     TEXT NOT NULL,
  deployment         INTEGER NOT NULL,
  attempts           INTEGER NOT NULL,
  experiment         TEXT NOT NULL,
  variant            TEXT NOT NULL,
  prompt_tokens      BIGINT NOT NULL,
  cached_tokens      BIGINT NOT NULL,
  cache_write_tokens BIGINT NOT NULL,
  completion_tokens  BIGINT NOT NULL,
  reasoning_tokens   BIGINT NOT NULL,
  -- Nano-dollars (1e-9 USD).
  cost_nano_usd      BIGINT NOT NULL,
  reserved_nano_usd  BIGINT NOT NULL,
  estimated          BOOLEAN NOT NULL,
  unpriced           BOOLEAN NOT NULL,
  outcome            TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'cancelled', 'cut')),
  http_status        INTEGER NOT NULL,
  latency_us         BIGINT NOT NULL,
  ttft_us            BIGINT NOT NULL,
  recorded_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (request_id, start_time)
) PARTITION BY RANGE (start_time);

CREATE INDEX usage_events_team_time ON usage_events (team_id, start_time);
