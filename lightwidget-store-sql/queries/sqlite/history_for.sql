-- An owner's view: token events after they joined (seq > the joined_seq) and their own events.
SELECT seq, at, event, owner FROM lw_history WHERE account_id = ? AND ((owner IS NULL AND seq > ?) OR owner = ?) ORDER BY seq DESC LIMIT ?
