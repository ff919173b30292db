-- Corpora, their source files, the tokenizer trained on each, and the token shards.
-- Written once per `tracker ingest`, in one transaction, after every file is in place.
-- Append-only: a schema change is a new file; never edit this one once it has shipped.

CREATE TABLE corpus (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,   -- sha256 of the sources' checksums and the ingest settings
  settings    TEXT NOT NULL,          -- JSON: vocabSize, valFraction, filters, flags
  documents   INTEGER NOT NULL,       -- documents kept (train + val)
  trainDocuments INTEGER NOT NULL,
  valDocuments   INTEGER NOT NULL,
  bytes       INTEGER NOT NULL,       -- UTF-8 bytes of the kept documents
  skipped     INTEGER NOT NULL,       -- entries left out: filtered, binary, oversized, not regular files
  invalid     INTEGER NOT NULL,       -- documents with invalid UTF-8 (skipped or repaired)
  repaired    INTEGER NOT NULL,       -- of those, repaired with U+FFFD
  duplicates  INTEGER NOT NULL,       -- exact duplicate documents dropped
  stats       TEXT NOT NULL,          -- JSON: every counter, warnings, per-stage seconds
  createdAt   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX corpusByName ON corpus (name, id);

CREATE TABLE corpusSource (
  id        INTEGER PRIMARY KEY,
  corpusId  INTEGER NOT NULL REFERENCES corpus(id) ON DELETE CASCADE,
  path      TEXT NOT NULL,            -- absolute path at ingest time
  sha256    TEXT NOT NULL,
  size      INTEGER NOT NULL,         -- bytes on disk
  documents INTEGER NOT NULL,
  bytes     INTEGER NOT NULL          -- UTF-8 bytes of the documents kept from it
) STRICT;
CREATE INDEX corpusSourceByCorpus ON corpusSource (corpusId);

CREATE TABLE tokenizer (
  id        INTEGER PRIMARY KEY,
  corpusId  INTEGER NOT NULL REFERENCES corpus(id) ON DELETE CASCADE,
  kind      TEXT NOT NULL,            -- 'bpe-byte-level-gpt2'
  vocabSize INTEGER NOT NULL,
  settings  TEXT NOT NULL,            -- JSON: special tokens, pre-tokenizer, tie-break rule
  sha256    TEXT NOT NULL,            -- of tokenizer.json
  path      TEXT NOT NULL,            -- relative to the workspace
  createdAt TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX tokenizerByCorpus ON tokenizer (corpusId);

CREATE TABLE shard (
  id          INTEGER PRIMARY KEY,
  corpusId    INTEGER NOT NULL REFERENCES corpus(id) ON DELETE CASCADE,
  tokenizerId INTEGER NOT NULL REFERENCES tokenizer(id) ON DELETE CASCADE,
  split       TEXT NOT NULL CHECK (split IN ('train', 'val')),
  ordinal     INTEGER NOT NULL,       -- 0, 1, ... within the split
  path        TEXT NOT NULL,          -- relative to the workspace
  tokens      INTEGER NOT NULL,
  documents   INTEGER NOT NULL,
  size        INTEGER NOT NULL,       -- bytes on disk
  sha256      TEXT NOT NULL,
  UNIQUE (tokenizerId, split, ordinal)
) STRICT;
