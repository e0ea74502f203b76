-- A batch of new documents in one statement (warehouse/store.py insert_articles): doc_batch
-- is the batch registered as a table (warehouse/db.py scanned); ids were taken from
-- doc_id_seq beforehand, in batch order.
INSERT INTO doc (id, source, url, canonical_url, title, author, published_at, fetched_at,
                 lang, lang_confidence, text, text_hash, n_words, is_seed, duplicate_of,
                 similarity, run_id, translation_of)
SELECT id::BIGINT, source::VARCHAR, url::VARCHAR, canonical_url::VARCHAR, title::VARCHAR,
       author::VARCHAR, published_at::TIMESTAMPTZ, fetched_at::TIMESTAMPTZ, lang::VARCHAR,
       lang_confidence::DOUBLE, text::VARCHAR, text_hash::VARCHAR, n_words::INTEGER,
       is_seed::BOOLEAN, duplicate_of::BIGINT, similarity::DOUBLE, run_id::VARCHAR,
       translation_of::BIGINT
FROM doc_batch;
