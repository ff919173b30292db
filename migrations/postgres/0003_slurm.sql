-- PostgreSQL mirror of migrations/0003_slurm.sql (see there).

CREATE TABLE slurmTask (
  runId        BIGINT PRIMARY KEY REFERENCES run(id) ON DELETE CASCADE,
  sweepDir     TEXT NOT NULL,
  taskIndex    BIGINT NOT NULL,
  jobName      TEXT NOT NULL,
  arrayJobId   BIGINT,
  arrayTask    BIGINT,
  slurmState   TEXT,
  reason       TEXT,
  requeues     BIGINT NOT NULL DEFAULT 0,
  maxRequeues  BIGINT NOT NULL DEFAULT 3,
  submissions  BIGINT NOT NULL DEFAULT 0,
  spoolOffset  BIGINT NOT NULL DEFAULT 0,
  spoolSeq     BIGINT NOT NULL DEFAULT 0,
  submittedAt  DOUBLE PRECISION,
  missingSince DOUBLE PRECISION
);
CREATE INDEX slurmTaskByArray ON slurmTask (arrayJobId, arrayTask);
