-- An owner's view: token events after they joined (seq > the joined_seq) and their own events.
SELECT seq, at, event, owner FROM lw_history WHERE account_id = $1 AND ((owner IS NULL AND seq > $2) OR owner = $3) ORDER BY seq DESC LIMIT $4
