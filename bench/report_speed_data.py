"""Data for bench/report_speed.sh: the same synthetic sweep as tracker import lines and as an MLflow
SQLite store.

  report_speed_data.py jsonl OUT_DIR RUNS [STEPS] [RUNS_PER_FILE]
      writes OUT_DIR/part-NNN.jsonl: RUNS runs of experiment 'sweep' (5 variants x 4 learning rates
      x seeds), each with 11 params, 1 tag and STEPS steps of 4 metrics (train/loss, val/loss,
      val/bpb, train/tokensPerSecond), plus 3 lengen and 1 task metric at the last step.
  report_speed_data.py mlflow DB_PATH RUNS [STEPS]
      creates an MLflow tracking store (schema from MLflow itself) holding the same runs, params,
      tags, metric histories and latest_metrics rows; rows are bulk-inserted with sqlite3 because
      logging 8 million points through the MLflow client would take hours.
  report_speed_data.py search DB_PATH
      times mlflow.search_runs over experiment 'sweep' (all runs) and prints JSON: seconds for the
      call and the number of runs returned.
"""
import json
import math
import os
import sqlite3
import sys
import time
import uuid

VARIANTS = ["softmax_rope", "stick_breaking", "forgetting", "sigmoid", "alibi"]
LRS = [0.001, 0.002, 0.003, 0.006]
KEYS = ["train/loss", "val/loss", "val/bpb", "train/tokensPerSecond"]


def run_spec(i):
    v = VARIANTS[i % len(VARIANTS)]
    lr = LRS[(i // len(VARIANTS)) % len(LRS)]
    seed = i // (len(VARIANTS) * len(LRS)) + 1
    params = {
        "model.attention.variant": v, "model.nLayer": 4, "model.dModel": 128, "model.nHead": 4,
        "model.contextLength": 256, "train.lr": lr, "train.seed": seed, "train.steps": 2000,
        "train.batchSize": 16, "train.warmup": 100, "train.weightDecay": 0.1,
    }
    return f"{v}-lr{lr}-seed{seed}", params, {"note": "baseline" if v == "softmax_rope" else "sweep"}


def curve(i, step, steps):
    base = 3.0 + 0.1 * (i % 5) + 0.01 * ((i * 7919) % 13)
    f = 1 - step / max(1, steps - 1)
    return base + 2.5 * f * f


def jsonl(out, runs, steps=200, per_file=1000):
    os.makedirs(out, exist_ok=True)
    for start in range(0, runs, per_file):
        with open(f"{out}/part-{start // per_file:03d}.jsonl", "w") as f:
            for i in range(start, min(runs, start + per_file)):
                name, params, tags = run_spec(i)
                f.write(json.dumps({"run": name, "experiment": "sweep", "params": params, "tags": tags}) + "\n")
                for s in range(steps):
                    loss = curve(i, s, steps)
                    m = {"train/loss": round(loss - 0.05, 5), "val/loss": round(loss, 5), "val/bpb": round(loss / 2.2, 5),
                         "train/tokensPerSecond": 12000 + (i % 17) * 100}
                    if s == steps - 1:
                        m["lengen/loss/1x/[0,L)"] = round(loss, 5)
                        m["lengen/loss/2x/[L,2L)"] = round(loss + 0.3, 5)
                        m["lengen/loss/4x/[2L,4L)"] = round(loss + 0.9, 5)
                        m["task/acc/1x/[0,L)"] = round(0.5 + (i % 10) / 40, 5)
                    f.write(json.dumps({"run": name, "step": s * 10, "metrics": m}) + "\n")


def mlflow_store(path, runs, steps=200):
    from mlflow.tracking import MlflowClient
    c = MlflowClient(tracking_uri=f"sqlite:///{path}")
    exp = c.create_experiment("sweep")
    template = c.create_run(exp)
    db = sqlite3.connect(path)
    cols = [r[1] for r in db.execute("PRAGMA table_info(runs)")]
    row = dict(zip(cols, db.execute("SELECT * FROM runs WHERE run_uuid = ?", (template.info.run_id,)).fetchone()))
    db.execute("DELETE FROM runs WHERE run_uuid = ?", (template.info.run_id,))
    db.execute("DELETE FROM tags WHERE run_uuid = ?", (template.info.run_id,))
    now = int(time.time() * 1000)
    for i in range(runs):
        name, params, tags = run_spec(i)
        rid = uuid.uuid4().hex
        r = dict(row, run_uuid=rid, name=name, status="FINISHED", start_time=now, end_time=now + 60000, artifact_uri=f"/tmp/{rid}")
        db.execute(f"INSERT INTO runs ({','.join(r)}) VALUES ({','.join('?' * len(r))})", list(r.values()))
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", [(k, str(v), rid) for k, v in params.items()])
        db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                       [(k, v, rid) for k, v in tags.items()] + [("mlflow.runName", name, rid)])
        points, latest = [], {}
        for s in range(steps):
            loss = curve(i, s, steps)
            for k, v in zip(KEYS, [loss - 0.05, loss, loss / 2.2, 12000 + (i % 17) * 100]):
                points.append((k, v, now + s, rid, s * 10, 0))
                latest[k] = (k, v, now + s, s * 10, 0, rid)
        db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)", points)
        db.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)",
                       list(latest.values()))
        if i % 1000 == 999:
            db.commit()
    db.commit()
    db.close()


def search(path):
    import mlflow
    mlflow.set_tracking_uri(f"sqlite:///{path}")
    exp = mlflow.get_experiment_by_name("sweep")
    t = time.perf_counter()
    df = mlflow.search_runs(experiment_ids=[exp.experiment_id], max_results=100000)
    print(json.dumps({"seconds": time.perf_counter() - t, "runs": len(df)}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "jsonl":
        jsonl(sys.argv[2], int(sys.argv[3]), *(int(a) for a in sys.argv[4:6]))
    elif cmd == "mlflow":
        mlflow_store(sys.argv[2], int(sys.argv[3]), *(int(a) for a in sys.argv[4:5]))
    elif cmd == "search":
        search(sys.argv[2])
    else:
        sys.exit(__doc__)
