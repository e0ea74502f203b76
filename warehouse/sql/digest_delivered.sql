-- The delivery log (delivered, or claimed by a pending digest) of the stories a run may send:
-- columns subscriber, channel, doc_id. Parameters: $ids BIGINT[] (the leads' ids).
SELECT l.subscriber, l.channel, l.doc_id
FROM delivery_log l
WHERE l.doc_id IN (SELECT unnest($ids::BIGINT[]));
