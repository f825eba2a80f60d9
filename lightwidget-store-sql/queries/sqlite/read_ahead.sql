-- Read-ahead: up to ?3 due, unleased rows at ?1 after ?2 (a next_action_at), earliest first,
-- read for their pages only (length makes SQLite load each row's table page). Returns how
-- many and the last one's next_action_at, where the next read-ahead continues.
SELECT count(*), max(next_action_at), sum(length(token_ct)) FROM (SELECT next_action_at, token_ct FROM lw_accounts WHERE next_action_at > ?2 AND next_action_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1) ORDER BY next_action_at LIMIT ?3)
