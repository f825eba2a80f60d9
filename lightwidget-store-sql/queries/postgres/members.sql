SELECT owner, notifications, joined_at FROM lw_members WHERE account_id = $1 ORDER BY joined_seq, owner
