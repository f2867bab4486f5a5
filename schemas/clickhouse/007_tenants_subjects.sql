-- directory.tenant: the tenant a directory record is for ('' = every tenant; a tenant's own records win).
-- alerts.subject: whom an alert is about when it is not its user (the IP of a password spray; '' = the user).
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: migrate skips a column that already exists.
ALTER TABLE directory ADD COLUMN tenant String DEFAULT '';
ALTER TABLE alerts ADD COLUMN subject String DEFAULT ''
