-- Team management (issue 5): when a key was last used, unique team names, audit entries newest first.
ALTER TABLE api_keys ADD COLUMN last_use_time TIMESTAMPTZ;
CREATE UNIQUE INDEX teams_display_name ON teams (lower(display_name));
CREATE INDEX team_members_order ON team_members (team_id, create_time, user_id);
