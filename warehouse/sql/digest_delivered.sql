-- The delivery log for articles stored since $since (delivered or claimed by a pending digest):
-- columns subscriber, channel, doc_id. Parameters: $since TIMESTAMPTZ.
SELECT l.subscriber, l.channel, l.doc_id
FROM delivery_log l
JOIN doc a ON a.id = l.doc_id
WHERE a.fetched_at >= $since;
