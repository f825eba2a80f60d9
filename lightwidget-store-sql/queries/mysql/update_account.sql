UPDATE lw_accounts SET owner = ?, kind = ?, ig_user_id = ?, username = ?, page_id = ?, notifications = ?, fb_user_id = ?, version = version + 1 WHERE id = ?
