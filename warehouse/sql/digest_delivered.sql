-- The delivery log (delivered, or claimed by a pending digest) of the stories a run may send,
-- for the channels it composes and within each one's window only (alerts/select.py looks a
-- story up there only; a window may start months back, and the log's other rows of those
-- months are many): subscriber, channel, doc_id.
-- Parameters: $ids BIGINT[], $seen TIMESTAMPTZ[] (each candidate story's lead id and
-- last_seen); $subscribers VARCHAR[], $channels VARCHAR[], $since TIMESTAMPTZ[] (each channel
-- composed and where its window starts).
WITH story AS (
    SELECT unnest($ids::BIGINT[]) AS doc_id, unnest($seen::TIMESTAMPTZ[]) AS last_seen
), win AS (
    SELECT unnest($subscribers::VARCHAR[]) AS subscriber,
           unnest($channels::VARCHAR[]) AS channel, unnest($since::TIMESTAMPTZ[]) AS since
)
SELECT l.subscriber, l.channel, l.doc_id
FROM delivery_log l
JOIN win w ON w.subscriber = l.subscriber AND w.channel = l.channel
JOIN story s ON s.doc_id = l.doc_id
WHERE s.last_seen >= w.since;
