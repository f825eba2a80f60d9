SELECT id FROM lw_outbox WHERE state = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY created_at, id LIMIT ? FOR UPDATE SKIP LOCKED
