-- Synthetic stored articles $lo <= i < $hi, as the ingest would have stored them: 20 outlets,
-- three languages, three years of publication dates, ~200-word texts from a small vocabulary
-- ($vocab, with topic words in it), one article in ten a copy of a cluster's original.
INSERT INTO doc (source, url, canonical_url, title, author, published_at, fetched_at, lang,
                 lang_confidence, text, text_hash, n_words, is_seed, duplicate_of, similarity,
                 run_id)
SELECT source, url, url, title, NULL, published_at, published_at + INTERVAL 2 HOUR, lang, 0.99,
       text, md5(text), 200, false, NULL, NULL, 'growth'
FROM (
    SELECT 'outlet' || (i % 20) AS source,
           'https://outlet' || (i % 20) || '.example/news/' || i AS url,
           'Synthetic story ' || i || ' ' || vocab[(hash(i, 'title') % len(vocab))::BIGINT + 1] AS title,
           TIMESTAMPTZ '2023-01-01 00:00:00+00' + to_seconds((hash(i, 'date') % 94608000)::BIGINT)
               AS published_at,
           ['en', 'ru', 'tg'][1 + i % 3] AS lang,
           array_to_string(list_transform(range(200),
               lambda k: vocab[(hash(i, k) % len(vocab))::BIGINT + 1]), ' ') AS text
    FROM range($lo, $hi) t(i), (SELECT $vocab::VARCHAR[] AS vocab)
);
