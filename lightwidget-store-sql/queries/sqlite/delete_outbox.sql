DELETE FROM lw_outbox WHERE account_id = ?
