SELECT worker, at FROM lw_sweeps ORDER BY at DESC LIMIT 1
