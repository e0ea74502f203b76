-- The near-copy search window ([dedup] window_days = $1): the first document id stored in the
-- window (ids grow in storage order; one past the last id when none is), and the seeds' ids,
-- which are always searched.
SELECT coalesce((SELECT min(id) FROM doc
                 WHERE fetched_at >= now() - to_days($1::INTEGER) AND NOT is_seed),
                (SELECT coalesce(max(id), 0) + 1 FROM doc)),
       (SELECT coalesce(list(id), []) FROM doc WHERE is_seed);
