-- api_audit.path_decoded / query_decoded: the path and query percent-decoded, so a search for `u0001`
-- finds `/users/%75%30%30%30%31` too (path and query stay as received).
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: migrate skips a column that already exists.
ALTER TABLE api_audit ADD COLUMN path_decoded String DEFAULT '';
ALTER TABLE api_audit ADD COLUMN query_decoded String DEFAULT ''
