-- outlet_runs: one row per outlet and ingest run, newest first: what the crawler did there.
--   run_id VARCHAR, source VARCHAR, logged_at TIMESTAMPTZ, ok BOOLEAN,
--   requests BIGINT (robots.txt, feeds, sitemaps, listings, pages), ok_requests,
--   not_modified, soft, hard, skipped BIGINT (requests per outcome), bytes BIGINT (bodies kept),
--   new_articles INTEGER, error VARCHAR
CREATE OR REPLACE VIEW outlet_runs AS
SELECT r.run_id, r.source, r.logged_at, r.ok,
       count(e.url) AS requests,
       count(e.url) FILTER (WHERE e.outcome = 'ok') AS ok_requests,
       count(e.url) FILTER (WHERE e.outcome = 'not_modified') AS not_modified,
       count(e.url) FILTER (WHERE e.outcome = 'soft') AS soft,
       count(e.url) FILTER (WHERE e.outcome = 'hard') AS hard,
       count(e.url) FILTER (WHERE e.outcome = 'skipped') AS skipped,
       coalesce(sum(e.n_bytes), 0)::BIGINT AS bytes,
       r.new_articles, r.error
FROM source_run r
LEFT JOIN fetch_event e ON e.run_id = r.run_id AND e.source = r.source
GROUP BY ALL
ORDER BY r.logged_at DESC, r.source;
