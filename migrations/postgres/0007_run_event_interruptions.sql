-- PostgreSQL mirror of migrations/0007_run_event_interruptions.sql: the events that leave running
-- for queued or crashed, by run, for RunReader.setRunningTimes.
CREATE INDEX runEventInterruptions ON runEvent (runId)
  WHERE fromState = 'running' AND toState IN ('queued', 'crashed');
