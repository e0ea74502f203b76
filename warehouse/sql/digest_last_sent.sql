-- When each subscriber channel last had a digest delivered: subscriber, channel, last_sent.
SELECT recipient AS subscriber, channel, max(created_at) AS last_sent
FROM digest
WHERE status = 'delivered'
GROUP BY ALL;
