-- PostgreSQL mirror of migrations/0001_ingest.sql: the same tables and columns (integers are
-- BIGINT, reals DOUBLE PRECISION, ids BIGSERIAL; timestamps ISO 8601 text like SQLite's).
-- Unquoted names: PostgreSQL folds them to lower case, and the store's queries use them the same way.
-- Append-only: a schema change is a new file here AND in migrations/, under the same name.

CREATE TABLE corpus (
  id          BIGSERIAL PRIMARY KEY,
  name        TEXT NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,
  settings    TEXT NOT NULL,
  documents   BIGINT NOT NULL,
  trainDocuments BIGINT NOT NULL,
  valDocuments   BIGINT NOT NULL,
  bytes       BIGINT NOT NULL,
  skipped     BIGINT NOT NULL,
  invalid     BIGINT NOT NULL,
  repaired    BIGINT NOT NULL,
  duplicates  BIGINT NOT NULL,
  stats       TEXT NOT NULL,
  createdAt   TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
);
CREATE INDEX corpusByName ON corpus (name, id);

CREATE TABLE corpusSource (
  id        BIGSERIAL PRIMARY KEY,
  corpusId  BIGINT NOT NULL REFERENCES corpus(id) ON DELETE CASCADE,
  path      TEXT NOT NULL,
  sha256    TEXT NOT NULL,
  size      BIGINT NOT NULL,
  documents BIGINT NOT NULL,
  bytes     BIGINT NOT NULL
);
CREATE INDEX corpusSourceByCorpus ON corpusSource (corpusId);

CREATE TABLE tokenizer (
  id        BIGSERIAL PRIMARY KEY,
  corpusId  BIGINT NOT NULL REFERENCES corpus(id) ON DELETE CASCADE,
  kind      TEXT NOT NULL,
  vocabSize BIGINT NOT NULL,
  settings  TEXT NOT NULL,
  sha256    TEXT NOT NULL,
  path      TEXT NOT NULL,
  createdAt TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
);
CREATE INDEX tokenizerByCorpus ON tokenizer (corpusId);

CREATE TABLE shard (
  id          BIGSERIAL PRIMARY KEY,
  corpusId    BIGINT NOT NULL REFERENCES corpus(id) ON DELETE CASCADE,
  tokenizerId BIGINT NOT NULL REFERENCES tokenizer(id) ON DELETE CASCADE,
  split       TEXT NOT NULL CHECK (split IN ('train', 'val')),
  ordinal     BIGINT NOT NULL,
  path        TEXT NOT NULL,
  tokens      BIGINT NOT NULL,
  documents   BIGINT NOT NULL,
  size        BIGINT NOT NULL,
  sha256      TEXT NOT NULL,
  UNIQUE (tokenizerId, split, ordinal)
);
