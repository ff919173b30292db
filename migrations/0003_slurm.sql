-- Runs executed by the Slurm executor: one row per run handed to Slurm, with the job array task
-- that runs it now and how far the head has ingested the run's spool file (the per-run event
-- file on the shared filesystem that the task appends to; the head is the only SQLite writer).
-- A run with a row here is never claimed by a local worker, and has no lease: Slurm is the truth
-- for whether it still runs, the store (fed by the spool) for how it ended.

CREATE TABLE slurmTask (
  runId        INTEGER PRIMARY KEY REFERENCES run(id) ON DELETE CASCADE,
  sweepDir     TEXT NOT NULL,          -- the submission's folder: manifest.json, scripts, spool/, logs
  taskIndex    INTEGER NOT NULL,       -- the run's index in the manifest (`tracker worker --index`)
  jobName      TEXT NOT NULL,          -- --job-name of its arrays
  arrayJobId   INTEGER,                -- the job array now holding it; NULL: to be submitted
  arrayTask    INTEGER,                -- its task index in that array
  slurmState   TEXT,                   -- the last state Slurm reported (squeue %T / sacct State)
  reason       TEXT,                   -- squeue %r, or how the head read the state
  requeues     INTEGER NOT NULL DEFAULT 0,   -- requeues after preemption or a time limit
  maxRequeues  INTEGER NOT NULL DEFAULT 3,
  submissions  INTEGER NOT NULL DEFAULT 0,   -- sbatch calls that held it
  spoolOffset  INTEGER NOT NULL DEFAULT 0,   -- bytes of its spool file already ingested
  spoolSeq     INTEGER NOT NULL DEFAULT 0,   -- seq of the last spool event ingested
  submittedAt  REAL,                   -- unix seconds of the last sbatch
  missingSince REAL                    -- unix seconds since Slurm stopped listing it, while the store has no end
) STRICT;
CREATE INDEX slurmTaskByArray ON slurmTask (arrayJobId, arrayTask);
