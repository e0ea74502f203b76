-- Near-duplicate candidates close together in storage order: as dedup_texts.sql, for the ids
-- {ids}, stored in rows {low} to {high} (rowid). Why a range: DuckDB stores long texts
-- ZSTD-compressed and reading one of them alone decompresses its whole vector again (~3-8 ms
-- on realistic texts), while reading a range decompresses each vector once (~10 us a text).
-- Why rowid, not id: a range of ids with one bound beyond the table's (the newest documents,
-- or the first) is left with one condition on the primary key, and DuckDB then reads each
-- of up to 2,048 rows through the index, one by one (2,000 candidates: 4-6 s instead of
-- 0.15 s). MATERIALIZED keeps the id filter out of that scan.
-- warehouse/copies.py decides which ids to read so.
WITH d AS MATERIALIZED (
    SELECT id, text, duplicate_of FROM doc WHERE rowid BETWEEN {low} AND {high}
)
SELECT d.id, d.text, r.id AS root, r.is_seed, coalesce(r.published_at, r.fetched_at) AS at
FROM d
JOIN doc r ON r.id = coalesce(d.duplicate_of, d.id)
WHERE d.id IN ({ids});
