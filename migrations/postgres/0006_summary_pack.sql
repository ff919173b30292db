-- PostgreSQL mirror of migrations/0006_summary_pack.sql (see there): the packs are BYTEA. The
-- row a run gets when it is created is also what the metric write path locks (FOR UPDATE), so
-- two writers of one run's first metrics wait for each other instead of both creating it.

CREATE TABLE runSummaryPack (
  runId   BIGINT PRIMARY KEY REFERENCES run(id) ON DELETE CASCADE,
  params  BYTEA NOT NULL,
  tags    BYTEA NOT NULL,
  metrics BYTEA NOT NULL
);

CREATE FUNCTION runSummaryPackOnInsert() RETURNS trigger LANGUAGE plpgsql
  AS 'BEGIN INSERT INTO runSummaryPack (runId, params, tags, metrics) VALUES (NEW.id,
    decode(''010100000000'', ''hex''), decode(''010200000000'', ''hex''), decode(''010300000000'', ''hex''));
    RETURN NULL; END';

CREATE TRIGGER runSummaryPackOnInsert AFTER INSERT ON run FOR EACH ROW EXECUTE FUNCTION runSummaryPackOnInsert();
