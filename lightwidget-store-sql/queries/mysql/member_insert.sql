INSERT INTO lw_members (account_id, owner, notifications, joined_at, joined_seq) VALUES (?, ?, ?, ?, ?)
