-- PostgreSQL mirror of migrations/0009_run_ids_never_reused.sql: run.id already comes from a
-- sequence (BIGSERIAL), which never hands out an id twice, also after `tracker delete`. Nothing
-- changes but the column's comment, which says so.

COMMENT ON COLUMN run.id IS 'from a sequence: never reused, also after runs are deleted';
