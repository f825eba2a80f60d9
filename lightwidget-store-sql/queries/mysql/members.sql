SELECT owner, notifications, joined_at FROM lw_members WHERE account_id = ? ORDER BY joined_seq, owner
