-- The accounts an incident held are due at once when it resolves. The hold lives in the
-- retry column's JSON; this runs once per incident, so a scan is fine. No version bump:
-- a keeper working on one of them commits as usual.
UPDATE lw_accounts SET next_action_at = $1 WHERE status = 'active' AND retry LIKE $2 AND (next_action_at IS NULL OR next_action_at > $3)
