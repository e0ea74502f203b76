-- incident_pending: the incident events not yet claimed for channel $channel, oldest first.
-- An incident still open is always reported; any other event only when it happened after the
-- channel first appeared ($since): a new channel is told the present, not the history.
WITH events AS (
    SELECT incident_id, 'opened' AS event, opened_at AS at FROM operator_incident
    UNION ALL
    SELECT incident_id, 'closed', closed_at FROM operator_incident WHERE closed_at IS NOT NULL
)
SELECT i.incident_id, e.event, i.source, i.kind, i.opened_at, i.closed_at, i.detail,
       i.closed_reason
FROM events e JOIN operator_incident i USING (incident_id)
WHERE (e.at >= $since OR (e.event = 'opened' AND i.closed_at IS NULL))
  AND NOT EXISTS (SELECT 1 FROM operator_alert_event a
                  WHERE a.channel = $channel AND a.incident_id = e.incident_id
                    AND a.event = e.event)
ORDER BY i.opened_at, i.source, i.kind, e.event DESC;
