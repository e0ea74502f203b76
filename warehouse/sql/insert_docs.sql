-- A batch of new documents in one statement (warehouse/store.py insert_articles): one list
-- per column, aligned; ids were taken from doc_id_seq beforehand, in batch order.
INSERT INTO doc (id, source, url, canonical_url, title, author, published_at, fetched_at,
                 lang, lang_confidence, text, text_hash, n_words, is_seed, duplicate_of,
                 similarity, run_id)
SELECT unnest($id::BIGINT[]), unnest($source::VARCHAR[]), unnest($url::VARCHAR[]),
       unnest($canonical_url::VARCHAR[]), unnest($title::VARCHAR[]),
       unnest($author::VARCHAR[]), unnest($published_at::TIMESTAMPTZ[]),
       unnest($fetched_at::TIMESTAMPTZ[]), unnest($lang::VARCHAR[]),
       unnest($lang_confidence::DOUBLE[]), unnest($text::VARCHAR[]),
       unnest($text_hash::VARCHAR[]), unnest($n_words::INTEGER[]),
       unnest($is_seed::BOOLEAN[]), unnest($duplicate_of::BIGINT[]),
       unnest($similarity::DOUBLE[]), unnest($run_id::VARCHAR[]);
