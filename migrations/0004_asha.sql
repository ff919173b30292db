-- ASHA early stopping in sweeps ([sweep] scheduler = "asha"): a run state 'pruned' (stopped at a
-- rung because its metric was outside the top 1/reduction_factor there; terminal) and the rung
-- results, one row per (run, rung), in the order runs reached the rung.
--
-- SQLite cannot change a CHECK constraint in place: the run table is rebuilt the documented way
-- (new table, copy, drop, rename; the migration runner turns foreign keys off around it and
-- checks them before committing), its indexes recreated.

CREATE TABLE runNew (
  id             INTEGER PRIMARY KEY,
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

-- One result per run and rung. A run reaching rung k (step grace_steps * reduction_factor^k)
-- records its metric there and, in the same transaction, the decision taken against the results
-- already recorded at that rung of its experiment. A resumed run finds its row and keeps the
-- decision instead of recording the rung twice.
CREATE TABLE rung (
  experimentId INTEGER NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
  rung     INTEGER NOT NULL,             -- k
  runId    INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  step     INTEGER NOT NULL,             -- the rung's step (grace_steps * reduction_factor^k)
  atStep   INTEGER NOT NULL,             -- the step the metric was logged at (>= step)
  metric   TEXT NOT NULL,                -- e.g. 'val/loss'
  value    REAL,                         -- NULL when the metric was NaN
  arrival  INTEGER NOT NULL,             -- 1 for the first run to reach this rung, 2 for the next...
  pruned   INTEGER NOT NULL CHECK (pruned IN (0, 1)),
  time     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (experimentId, rung, runId),
  UNIQUE (experimentId, rung, arrival)
) STRICT;
CREATE INDEX rungByRun ON rung (runId, rung);
