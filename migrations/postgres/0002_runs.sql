-- PostgreSQL mirror of migrations/0002_runs.sql (see there for what each column means).
-- Flags stay integers 0/1, as in SQLite, so both engines bind and read them alike.

CREATE TABLE experiment (
  id        BIGSERIAL PRIMARY KEY,
  name      TEXT NOT NULL UNIQUE,
  source    TEXT,
  spec      TEXT NOT NULL,
  createdAt TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
);

CREATE TABLE run (
  id             BIGSERIAL PRIMARY KEY,
  experimentId   BIGINT REFERENCES experiment(id) ON DELETE CASCADE,
  name           TEXT NOT NULL,
  config         TEXT NOT NULL,
  configHash     TEXT NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'crashed')),
  priority       BIGINT NOT NULL DEFAULT 0,
  attempts       BIGINT NOT NULL DEFAULT 0,
  maxAttempts    BIGINT NOT NULL DEFAULT 3,
  cancelRequested BIGINT NOT NULL DEFAULT 0 CHECK (cancelRequested IN (0, 1)),
  worker         TEXT,
  leaseExpiresAt DOUBLE PRECISION,
  heartbeatAt    DOUBLE PRECISION,
  enqueuedAt     TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
  startedAt      TEXT,
  finishedAt     TEXT,
  exitCode       BIGINT,
  signal         BIGINT,
  error          TEXT,
  codeVersion    TEXT,
  codeDirty      BIGINT CHECK (codeDirty IN (0, 1)),
  machine        TEXT,
  corpusId       BIGINT REFERENCES corpus(id) ON DELETE SET NULL,
  lineage        TEXT,
  origin         TEXT NOT NULL DEFAULT 'local' CHECK (origin IN ('local', 'import'))
);
CREATE INDEX runQueue ON run (state, priority DESC, id);
CREATE INDEX runByExperiment ON run (experimentId, id);
CREATE INDEX runByConfig ON run (configHash);

CREATE TABLE runParam (
  runId BIGINT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  key   TEXT NOT NULL,
  type  TEXT NOT NULL CHECK (type IN ('int', 'real', 'bool', 'text')),
  num   DOUBLE PRECISION,
  text  TEXT,
  PRIMARY KEY (runId, key)
);
CREATE INDEX runParamByKey ON runParam (key, num, text);

CREATE TABLE runTag (
  runId BIGINT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  key   TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (runId, key)
);

-- NaN is stored as value NULL + isNaN 1, as in SQLite (which cannot store NaN), so a point
-- reads back the same from either engine.
CREATE TABLE metric (
  runId BIGINT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  key   TEXT NOT NULL,
  step  BIGINT NOT NULL,
  value DOUBLE PRECISION,
  isNaN BIGINT NOT NULL DEFAULT 0 CHECK (isNaN IN (0, 1)),
  time  DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (runId, key, step),
  CHECK ((value IS NULL) = (isNaN = 1))
);

CREATE TABLE metricSummary (
  runId     BIGINT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  key       TEXT NOT NULL,
  lastStep  BIGINT NOT NULL,
  last      DOUBLE PRECISION,
  lastIsNaN BIGINT NOT NULL DEFAULT 0 CHECK (lastIsNaN IN (0, 1)),
  min       DOUBLE PRECISION,
  max       DOUBLE PRECISION,
  count     BIGINT NOT NULL,
  PRIMARY KEY (runId, key)
);

CREATE TABLE artifact (
  id        BIGSERIAL PRIMARY KEY,
  runId     BIGINT REFERENCES run(id) ON DELETE CASCADE,
  kind      TEXT NOT NULL,
  step      BIGINT,
  path      TEXT NOT NULL,
  size      BIGINT NOT NULL,
  sha256    TEXT NOT NULL,
  createdAt TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
);
CREATE INDEX artifactByRun ON artifact (runId, kind, step);

CREATE TABLE runEvent (
  id        BIGSERIAL PRIMARY KEY,
  runId     BIGINT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  time      TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
  fromState TEXT,
  toState   TEXT NOT NULL,
  worker    TEXT,
  detail    TEXT
);
CREATE INDEX runEventByRun ON runEvent (runId, id);

CREATE TABLE worker (
  id          TEXT PRIMARY KEY,
  host        TEXT NOT NULL,
  pid         BIGINT NOT NULL,
  startedAt   TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
  heartbeatAt DOUBLE PRECISION NOT NULL,
  runId       BIGINT REFERENCES run(id) ON DELETE SET NULL
);
