-- Team budgets become integer nano-dollars: settings.monthly_budget (US dollars, a double) was the
-- input form and is now converted once where it enters; what is stored is
-- settings.monthly_budget_nano_usd (protobuf JSON: an int64 as a string).
UPDATE teams
SET settings = (settings - 'monthly_budget') ||
    jsonb_build_object('monthly_budget_nano_usd',
                       round((settings ->> 'monthly_budget')::numeric * 1000000000)::bigint::text)
WHERE settings ? 'monthly_budget';
