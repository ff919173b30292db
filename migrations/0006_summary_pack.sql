-- Packed per-run summaries (issue 16): one row per run holding its parameters, tags and metric
-- summaries as three blobs (layout: Sources/Store/SummaryPack.swift, versioned), which reports
-- read instead of stepping runParam, runTag and metricSummary row by row. Those tables stay
-- (--where compiles to SQL over them; the ASHA queue and one-run reads query single keys); the
-- store writes each pack in the same transaction as their rows. A run gets its row (empty
-- packs) when it is created; after this script, in the same transaction, the migration's data
-- step (TrackerDB.dataStep: SummaryPack.backfill) fills the rows of the runs that exist.

CREATE TABLE runSummaryPack (
  runId   INTEGER PRIMARY KEY REFERENCES run(id) ON DELETE CASCADE,
  params  BLOB NOT NULL,
  tags    BLOB NOT NULL,
  metrics BLOB NOT NULL
) STRICT;

CREATE TRIGGER runSummaryPackOnInsert AFTER INSERT ON run BEGIN
  INSERT INTO runSummaryPack (runId, params, tags, metrics)
  VALUES (NEW.id, X'010100000000', X'010200000000', X'010300000000');
END;
