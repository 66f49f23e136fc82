-- When did a topic's partition count change, and by whom: every update of a stack kept by the Pulumi
-- CLI's PostgreSQL backend (its table holds each update's record and the checkpoint after it), one row
-- per change of a matching topic's partitions. docs/runbook.md "Team state in PostgreSQL":
--   psql "$STATE_DB" -v stack=prod -v topic='market.equities.%.nyse' -f tools/sql/topic-history.sql
-- (STATE_DB: the backend URL without ?sslmode=... and ?table=...; the table here is the default, pulumi_state.)
WITH objects AS (
    SELECT substring(key FROM '/([^/]+)\.(?:history|checkpoint)\.json$') AS update_id,
           key LIKE '%.history.json' AS is_record,
           convert_from(decode(data ->> 'data', 'base64'), 'UTF8')::jsonb AS doc
    FROM pulumi_state
    WHERE key LIKE '%/.pulumi/history/%/' || :'stack' || '/%'
), updates AS (
    SELECT r.update_id,
           to_timestamp((r.doc ->> 'endTime')::bigint) AS finished,
           r.doc ->> 'kind' AS kind,
           r.doc ->> 'result' AS result,
           r.doc ->> 'message' AS message,
           concat_ws(' ', r.doc -> 'environment' ->> 'git.author', r.doc -> 'environment' ->> 'git.head') AS git,
           c.doc AS checkpoint
    FROM objects r JOIN objects c ON c.update_id = r.update_id AND NOT c.is_record
    WHERE r.is_record
), partitions AS (
    SELECT u.finished, u.kind, u.result, u.message, u.git,
           t -> 'outputs' ->> 'name' AS topic,
           (t -> 'outputs' ->> 'partitions')::int AS partitions
    FROM updates u,
         jsonb_array_elements(u.checkpoint -> 'checkpoint' -> 'latest' -> 'resources') AS t
    WHERE t ->> 'type' = 'kafka:index/topic:Topic' AND t -> 'outputs' ->> 'name' LIKE :'topic'
)
SELECT finished, topic, before, partitions, kind, result, message, git
FROM (
    SELECT *, lag(partitions) OVER (PARTITION BY topic ORDER BY finished) AS before FROM partitions
) changes
WHERE before IS DISTINCT FROM partitions
ORDER BY finished, topic;
