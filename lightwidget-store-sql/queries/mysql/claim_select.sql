-- FORCE INDEX: a full scan would lock every row it examines, so concurrent claimers would
-- skip the whole table.
SELECT id FROM lw_accounts FORCE INDEX (lw_accounts_due) WHERE next_action_at IS NOT NULL AND next_action_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_action_at LIMIT ? FOR UPDATE SKIP LOCKED
