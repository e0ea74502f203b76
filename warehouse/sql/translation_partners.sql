-- Stored documents a batch's articles are translations of, or translated by (warehouse/
-- translations.py): those the batch's pages declare as their versions ($declared: canonical
-- URLs, matched as a document's own or as a feed link's, url_alias), and those whose pages
-- declared one of the batch's URLs ($own: each article's canonical URL and its link's).
-- Rows (url, doc_id, kind): kind 'declared' = url is a declared version that names doc_id;
-- 'declares' = doc_id declared url, one of the batch's own.
SELECT canonical_url AS url, id AS doc_id, 'declared' AS kind
FROM doc WHERE canonical_url IN (SELECT unnest($declared::VARCHAR[]))
UNION ALL
SELECT canonical_url, doc_id, 'declared'
FROM url_alias WHERE canonical_url IN (SELECT unnest($declared::VARCHAR[]))
UNION ALL
SELECT canonical_url, doc_id, 'declares'
FROM doc_alternate WHERE canonical_url IN (SELECT unnest($own::VARCHAR[]));
