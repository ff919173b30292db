-- PostgreSQL mirror of migrations/0005_metric_run_check.sql: metric.runId loses its foreign key.
-- The key's check ran once per inserted point (a query and a row lock on the run each time) and
-- cost about as much server time as inserting the point; the metric write path now does the
-- same once per run of a batch (TrackerDB+MetricsPostgres.swift: SELECT ... FOR KEY SHARE, the
-- lock the key took, and runNotFound for a missing run). Deleting a run still deletes its
-- points: this trigger does what ON DELETE CASCADE did.

ALTER TABLE metric DROP CONSTRAINT metric_runid_fkey;

CREATE FUNCTION deleteRunMetrics() RETURNS trigger LANGUAGE plpgsql
  AS 'BEGIN DELETE FROM metric WHERE runId = OLD.id; RETURN NULL; END';

CREATE TRIGGER runDeletesMetrics AFTER DELETE ON run FOR EACH ROW EXECUTE FUNCTION deleteRunMetrics();
