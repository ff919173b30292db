-- The events that leave running for queued or crashed (a release on SIGINT/SIGTERM, a Slurm
-- requeue, a crash, a lease expiry), by run: RunReader.setRunningTimes finds the few runs that ran
-- more than one interval through it, without reading runEvent (every other run's running time is
-- its duration).
CREATE INDEX runEventInterruptions ON runEvent (runId)
  WHERE fromState = 'running' AND toState IN ('queued', 'crashed');
