-- Experiments and their runs. A run row is also the queue entry: it is claimed atomically with
-- UPDATE ... RETURNING, held under a lease renewed by heartbeat, and resumed under the same id
-- after a crash. Parameters are stored typed for filtering; metrics go through one batched
-- write path that also keeps metricSummary current, so reports never scan the metric table.

CREATE TABLE experiment (
  id        INTEGER PRIMARY KEY,
  name      TEXT NOT NULL UNIQUE,     -- experiments/NAME.toml
  source    TEXT,                     -- path of the experiment file when enqueued
  spec      TEXT NOT NULL,            -- the experiment file resolved to JSON (latest enqueue)
  createdAt TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE run (
  id             INTEGER PRIMARY KEY,
  experimentId   INTEGER REFERENCES experiment(id) ON DELETE CASCADE,  -- NULL: trained or imported outside an experiment
  name           TEXT NOT NULL,       -- readable label, e.g. 'stick_breaking-seed2'
  config         TEXT NOT NULL,       -- resolved run config, canonical JSON (sorted keys)
  configHash     TEXT NOT NULL,       -- sha256 of config
  state          TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'crashed')),
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
CREATE INDEX runQueue ON run (state, priority DESC, id);
CREATE INDEX runByExperiment ON run (experimentId, id);
CREATE INDEX runByConfig ON run (configHash);

-- Every leaf of the resolved config, typed, e.g. ('model.attention.variant', 'text', NULL, 'stick_breaking').
CREATE TABLE runParam (
  runId INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  key   TEXT NOT NULL,
  type  TEXT NOT NULL CHECK (type IN ('int', 'real', 'bool', 'text')),
  num   REAL,                         -- int, real and bool (0/1) values
  text  TEXT,                         -- text values
  PRIMARY KEY (runId, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX runParamByKey ON runParam (key, num, text);

CREATE TABLE runTag (
  runId INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  key   TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (runId, key)
) STRICT, WITHOUT ROWID;

-- Metric keys are 'split/name[/qualifier]': 'train/loss', 'train/lr', 'val/loss', 'val/bpb',
-- 'lengen/loss/4x/[2L,4L)', 'task/acc/1x/[0,L)'. A step is logged once per key: logging the
-- same (run, key, step) again replaces the value (a resumed run re-logs the steps after its
-- checkpoint), so a history never has duplicates.
CREATE TABLE metric (
  runId INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  key   TEXT NOT NULL,
  step  INTEGER NOT NULL,
  value REAL,                         -- NULL exactly when isNaN = 1 (SQLite stores NaN as NULL)
  isNaN INTEGER NOT NULL DEFAULT 0 CHECK (isNaN IN (0, 1)),
  time  REAL NOT NULL,                -- unix seconds when logged
  PRIMARY KEY (runId, key, step),
  CHECK ((value IS NULL) = (isNaN = 1))
) STRICT, WITHOUT ROWID;

-- Kept current by the metric write path (one upsert per key per batch).
CREATE TABLE metricSummary (
  runId     INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  key       TEXT NOT NULL,
  lastStep  INTEGER NOT NULL,
  last      REAL,                     -- NULL when the last value is NaN
  lastIsNaN INTEGER NOT NULL DEFAULT 0 CHECK (lastIsNaN IN (0, 1)),
  min       REAL,                     -- over non-NaN values; NULL if there are none
  max       REAL,
  count     INTEGER NOT NULL,
  PRIMARY KEY (runId, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE artifact (
  id        INTEGER PRIMARY KEY,
  runId     INTEGER REFERENCES run(id) ON DELETE CASCADE,
  kind      TEXT NOT NULL,            -- 'checkpoint', 'report', 'log', 'export'
  step      INTEGER,
  path      TEXT NOT NULL,            -- relative to the workspace
  size      INTEGER NOT NULL,
  sha256    TEXT NOT NULL,
  createdAt TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX artifactByRun ON artifact (runId, kind, step);

-- State history: one row per transition.
CREATE TABLE runEvent (
  id        INTEGER PRIMARY KEY,
  runId     INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  time      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  fromState TEXT,
  toState   TEXT NOT NULL,
  worker    TEXT,
  detail    TEXT
) STRICT;
CREATE INDEX runEventByRun ON runEvent (runId, id);

-- Live workers, for `tracker status`.
CREATE TABLE worker (
  id          TEXT PRIMARY KEY,       -- 'host:pid'
  host        TEXT NOT NULL,
  pid         INTEGER NOT NULL,
  startedAt   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  heartbeatAt REAL NOT NULL,
  runId       INTEGER REFERENCES run(id) ON DELETE SET NULL
) STRICT, WITHOUT ROWID;
