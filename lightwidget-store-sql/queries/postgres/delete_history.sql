DELETE FROM lw_history WHERE account_id = $1
