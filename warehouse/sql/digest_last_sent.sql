-- Each subscriber channel that has had a digest: subscriber, channel, last_sent (when its last
-- delivered digest read its candidates: where its next window starts; NULL when none was
-- delivered), first_tried (its first digest, whatever became of it: a channel never delivered
-- to looks back `[digest] window_days` from there).
SELECT recipient AS subscriber, channel,
       max(created_at) FILTER (WHERE status = 'delivered') AS last_sent,
       min(created_at) AS first_tried
FROM digest
GROUP BY ALL;
