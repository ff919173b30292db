-- PostgreSQL mirror of migrations/0004_asha.sql (see there): the run state 'pruned' (PostgreSQL
-- changes the CHECK constraint in place) and the rung table.

ALTER TABLE run DROP CONSTRAINT run_state_check;
ALTER TABLE run ADD CONSTRAINT run_state_check
  CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'crashed', 'pruned'));

CREATE TABLE rung (
  experimentId BIGINT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
  rung     BIGINT NOT NULL,
  runId    BIGINT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
  step     BIGINT NOT NULL,
  atStep   BIGINT NOT NULL,
  metric   TEXT NOT NULL,
  value    DOUBLE PRECISION,
  arrival  BIGINT NOT NULL,
  pruned   BIGINT NOT NULL CHECK (pruned IN (0, 1)),
  time     TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
  PRIMARY KEY (experimentId, rung, runId),
  UNIQUE (experimentId, rung, arrival)
);
CREATE INDEX rungByRun ON rung (runId, rung);
