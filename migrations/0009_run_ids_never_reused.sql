-- Run ids are never handed out twice. `tracker delete` removes runs; with a plain INTEGER PRIMARY
-- KEY SQLite gives the next run max(id) + 1, so deleting the newest runs would give their ids to
-- the next ones, and anything that named the old run by id (a log, an export, a note, a Slurm
-- task still pending, the run's folder runs/ID) would then name another. AUTOINCREMENT keeps the
-- largest id ever used (in sqlite_sequence) and counts on from it.
--
-- SQLite cannot add AUTOINCREMENT in place: the run table is rebuilt as in 0004 (new table, copy,
-- drop, rename; the migration runner turns foreign keys off around it and checks them before
-- committing), its indexes and its trigger recreated.

CREATE TABLE runNew (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  experimentId   INTEGER REFERENCES experiment(id) ON DELETE CASCADE,  -- NULL: trained or imported outside an experiment
  name           TEXT NOT NULL,       -- readable label, e.g. 'stick_breaking-seed2'
  config         TEXT NOT NULL,       -- resolved run config, canonical JSON (sorted keys)
  configHash     TEXT NOT NULL,       -- sha256 of config
  state          TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'crashed', 'pruned')),
  priority       INTEGER NOT NULL DEFAULT 0,
  attempts       INTEGER NOT NULL DEFAULT 0,   -- claims so far
  maxAttempts    INTEGER NOT NULL DEFAULT 3,
  cancelRequested INTEGER NOT NULL DEFAULT 0 CHECK (cancelRequested IN (0, 1)),
  worker         TEXT,                -- 'host:pid' holding the lease
  leaseExpiresAt REAL,                -- unix seconds; the heartbeat pushes it forward
  heartbeatAt    REAL,                -- unix seconds
  enqueuedAt     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  startedAt      TEXT,                -- first claim
  finishedAt     TEXT,
  exitCode       INTEGER,
  signal         INTEGER,
  error          TEXT,                -- one-line reason for failed / crashed / cancelled
  codeVersion    TEXT,                -- git commit of the code that ran it, when known
  codeDirty      INTEGER CHECK (codeDirty IN (0, 1)),
  machine        TEXT,                -- JSON: host, cores, memory, OS
  corpusId       INTEGER REFERENCES corpus(id) ON DELETE SET NULL,
  lineage        TEXT,                -- JSON: corpus fingerprint, tokenizer sha256, shard paths and sha256
  origin         TEXT NOT NULL DEFAULT 'local' CHECK (origin IN ('local', 'import'))
) STRICT;

INSERT INTO runNew SELECT * FROM run;
DROP TABLE run;
ALTER TABLE runNew RENAME TO run;
CREATE INDEX runQueue ON run (state, priority DESC, id);
CREATE INDEX runByExperiment ON run (experimentId, id);
CREATE INDEX runByConfig ON run (configHash);
CREATE TRIGGER runSummaryPackOnInsert AFTER INSERT ON run BEGIN
  INSERT INTO runSummaryPack (runId, params, tags, metrics)
  VALUES (NEW.id, X'010100000000', X'010200000000', X'010300000000');
END;
