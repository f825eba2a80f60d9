SELECT status, COUNT(*) FROM lw_accounts GROUP BY status
