INSERT INTO lw_sweeps (worker, at) VALUES (?, ?) ON CONFLICT (worker) DO UPDATE SET at = MAX(lw_sweeps.at, excluded.at)
