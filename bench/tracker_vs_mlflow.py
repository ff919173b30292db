#!/usr/bin/env python3
"""MLflow side of bench/tracker_vs_mlflow.sh: the same measurements as `tracker bench-store`,
against MLflow's tracking store on its SQLite backend (sqlite:///...). Each mode prints one JSON
object on stdout, with the same field names as tracker's.

  batched  DIR POINTS BATCH      client.log_batch, BATCH metrics per call (MLflow caps it at 1000)
  per-step DIR STEPS             client.log_metric, one call per step (one transaction each)
  writers  DIR PROCS POINTS BATCH  PROCS processes each log_batch POINTS points into its own run
                                   while this process reads; counts "database is locked" errors
"""
import json
import multiprocessing as mp
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from mlflow.entities import Metric  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def client(d):
    os.makedirs(d, exist_ok=True)
    return MlflowClient(tracking_uri=f"sqlite:///{d}/mlflow.db")


def new_run(c, name):
    try:
        exp = c.create_experiment("bench")
    except Exception:
        exp = c.get_experiment_by_name("bench").experiment_id
    return c.create_run(exp, run_name=name).info.run_id


def is_lock_error(e):
    text = str(e)
    return "database is locked" in text or "SQLITE_BUSY" in text


def batched(d, points, batch):
    c = client(d)
    run = new_run(c, "batched")
    keys = 4
    t = time.perf_counter()
    written = 0
    while written < points:
        n = min(batch, points - written)
        now = int(time.time() * 1000)
        ms = [Metric(f"k{i % keys}", float(i), now, (written + i) // keys) for i in range(n)]
        c.log_batch(run, metrics=ms)
        written += n
    s = time.perf_counter() - t
    return {"points": points, "seconds": s, "pointsPerSecond": points / s}


def per_step(d, steps):
    c = client(d)
    run = new_run(c, "per-step")
    t = time.perf_counter()
    for step in range(steps):
        c.log_metric(run, "k0", float(step), step=step)
    s = time.perf_counter() - t
    return {"steps": steps, "seconds": s, "stepsPerSecond": steps / s}


def writer(args):
    d, points, batch, idx = args
    c = client(d)
    run = None
    lock_errors = 0
    while run is None:
        try:
            run = new_run(c, f"writer-{idx}")
        except Exception as e:
            if not is_lock_error(e):
                raise
            lock_errors += 1
    written = 0
    while written < points:
        n = min(batch, points - written)
        ms = [Metric(f"k{i % 4}", float(i), 0, (written + i) // 4) for i in range(n)]
        try:
            c.log_batch(run, metrics=ms)
            written += n
        except Exception as e:
            if not is_lock_error(e):
                raise
            lock_errors += 1
    return lock_errors


def writers(d, procs, points, batch):
    c = client(d)
    new_run(c, "setup")  # create the schema before the writers start
    ctx = mp.get_context("spawn")
    t = time.perf_counter()
    with ctx.Pool(procs) as pool:
        pending = pool.map_async(writer, [(d, points, batch, i) for i in range(procs)])
        reads = reader_errors = 0
        exp = c.get_experiment_by_name("bench").experiment_id
        while not pending.ready():
            try:
                for r in c.search_runs([exp], max_results=50):
                    c.get_metric_history(r.info.run_id, "k0")
                reads += 1
            except Exception as e:
                if not is_lock_error(e):
                    raise
                reader_errors += 1
        writer_errors = sum(pending.get())
    s = time.perf_counter() - t
    total = procs * points
    return {"processes": procs, "points": total, "seconds": s, "pointsPerSecond": total / s,
            "writerLockErrors": writer_errors, "readerLockErrors": reader_errors, "reads": reads}


if __name__ == "__main__":
    mode, d, *rest = sys.argv[1:]
    n = [int(x) for x in rest]
    out = {"batched": lambda: batched(d, *n), "per-step": lambda: per_step(d, *n),
           "writers": lambda: writers(d, *n)}[mode]()
    print(json.dumps(out))
