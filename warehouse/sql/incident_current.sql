-- incident_current: what is wrong with each outlet now, one row per outlet and kind:
-- failing (the failing_outlets view) or quiet (outlet_activity.gone_quiet). `detail` is the
-- view's row as JSON, kept with the incident when it opens.
SELECT source, 'failing' AS kind,
       json_object('consecutive_failures', consecutive_failures,
                   'failing_after', failing_after,
                   'last_success_at', strftime(last_success_at AT TIME ZONE 'UTC',
                                               '%Y-%m-%dT%H:%M:%SZ'),
                   'last_error', last_error)::VARCHAR AS detail
FROM failing_outlets
UNION ALL
SELECT source, 'quiet',
       json_object('quiet_hours', round(quiet_hours, 1),
                   'typical_gap_hours', round(typical_gap_hours, 1),
                   'last_published_at', strftime(last_published_at AT TIME ZONE 'UTC',
                                                 '%Y-%m-%dT%H:%M:%SZ'))::VARCHAR
FROM outlet_activity WHERE gone_quiet;
