INSERT INTO lw_members (account_id, owner, notifications, joined_at, joined_seq) VALUES ($1, $2, $3, $4, $5)
