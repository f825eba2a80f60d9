DELETE FROM lw_held WHERE held_until < ?
