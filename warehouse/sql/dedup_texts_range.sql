-- Near-duplicate candidates close together in storage order: as dedup_texts.sql, for the ids
-- {ids}, all between {low} and {high}. Why a range: DuckDB stores long texts ZSTD-compressed
-- and reading one of them by id decompresses its whole vector again (~8 ms on realistic
-- texts), while reading a range decompresses each vector once (~10 us a text); MATERIALIZED
-- keeps the id filter out of that scan. warehouse/copies.py decides which ids to read so.
WITH d AS MATERIALIZED (
    SELECT id, text, duplicate_of FROM doc WHERE id BETWEEN {low} AND {high}
)
SELECT d.id, d.text, r.id AS root, r.is_seed, coalesce(r.published_at, r.fetched_at) AS at
FROM d
JOIN doc r ON r.id = coalesce(d.duplicate_of, d.id)
WHERE d.id IN ({ids});
