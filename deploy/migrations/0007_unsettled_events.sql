-- usage-metering writes an "unsettled" event for a reservation whose router went silent (it died
-- with the request): charged at the reserved amount.
ALTER TABLE usage_events DROP CONSTRAINT usage_events_outcome_check;
ALTER TABLE usage_events ADD CONSTRAINT usage_events_outcome_check
  CHECK (outcome IN ('ok', 'error', 'cancelled', 'cut', 'unsettled'));
