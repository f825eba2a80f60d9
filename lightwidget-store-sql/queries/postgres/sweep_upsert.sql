INSERT INTO lw_sweeps (worker, at) VALUES ($1, $2) ON CONFLICT (worker) DO UPDATE SET at = GREATEST(lw_sweeps.at, excluded.at)
