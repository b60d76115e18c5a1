-- A key's own limits (common.v1.KeyLimits as protobuf JSON: monthly_budget_nano_usd, rate_limits),
-- beside its team's settings: both apply, the stricter wins.
ALTER TABLE api_keys ADD COLUMN limits JSONB NOT NULL DEFAULT '{}'::jsonb;
