UPDATE lw_accounts SET owner = ?, kind = ?, ig_user_id = ?, username = ?, page_id = ?, notifications = ? WHERE id = ?
