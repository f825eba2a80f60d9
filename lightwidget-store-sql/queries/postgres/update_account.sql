UPDATE lw_accounts SET owner = $1, kind = $2, ig_user_id = $3, username = $4, page_id = $5, notifications = $6, fb_user_id = $7, version = version + 1 WHERE id = $8
