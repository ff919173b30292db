-- Nothing changes in PostgreSQL: this migration exists for its SQLite mirror
-- (migrations/0008_metric_series.sql), which keys metric points by an integer series id, with
-- `metric` a view of the old columns. There the B-tree comparisons of (runId, key, step) on every
-- insert were the largest cost of a batch after SQLite's own interpreter; here a batch is two
-- statements whose server time is not in those comparisons (bench/store_speed.sh: 167,488
-- points/s against a target of 100,000), and the metric table keeps its columns, so the same
-- queries read both stores.
SELECT 1;
