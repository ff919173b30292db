#!/usr/bin/env python3
"""Reference side of bench/bpe.sh: builds the English benchmark corpus and times HF tokenizers
(training) and tiktoken (encoding) on it, so `tracker tokenizer` can be compared with them.

Commands:
  corpus OUT_DIR                     write ~50 MB of English documents (files of ~64 KB)
  hf-train CORPUS VOCAB MERGES_OUT   train HF BpeTrainer like ours (V - 1, no special), print JSON
                                     (CORPUS: a folder of documents or a .jsonl file)
  same-merges OURS_JSON HF_MERGES    print JSON {"identical": bool, "first_difference": i}
  tiktoken-encode TOKENIZER CORPUS THREADS   time tiktoken built from our merges, print JSON
  same-ids TOKENIZER SAMPLE_DIR IDS_JSONL    tiktoken ids == ours on a sample, print JSON
  table RESULTS_JSONL                print the comparison table
"""
import gzip, json, os, subprocess, sys, time

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
DOC_BYTES = 64 * 1024

# English text from Debian packages, each used once: (name, package, how to read it).
SOURCES = [
    ("kjv", "bible-kjv", lambda: subprocess.run(["bible", "gen1:1-rev22:21"], check=True,
                                                capture_output=True).stdout.decode("utf-8")),
    ("jargon", "jargon-text", lambda: gzip.open("/usr/share/doc/jargon-text/jargon.txt.gz").read().decode("utf-8", "replace")),
    ("devil", "dict-devil", lambda: gzip.open("/usr/share/dictd/devil.dict.dz").read().decode("utf-8", "replace")),
    ("foldoc", "dict-foldoc", lambda: gzip.open("/usr/share/dictd/foldoc.dict.dz").read().decode("utf-8", "replace")),
    ("gcide", "dict-gcide", lambda: gzip.open("/usr/share/dictd/gcide.dict.dz").read().decode("utf-8", "replace")),
]


def documents(text):
    """Cuts text into documents of about DOC_BYTES at blank lines (else at line ends)."""
    docs, current, size = [], [], 0
    for para in text.split("\n\n"):
        current.append(para)
        size += len(para) + 2
        if size >= DOC_BYTES:
            docs.append("\n\n".join(current) + "\n")
            current, size = [], 0
    if current:
        docs.append("\n\n".join(current) + "\n")
    return docs


def read_corpus(path):
    """The documents of a folder (one per file), or of a .jsonl file (its "text" fields, streamed)."""
    if path.endswith(".jsonl"):
        return (json.loads(line)["text"] for line in open(path, encoding="utf-8"))
    names = sorted(os.listdir(path))
    # newline="": the text as written (CRLF stays CRLF), as tracker reads it.
    return [open(os.path.join(path, n), encoding="utf-8", newline="").read() for n in names]


def cmd_corpus(out):
    os.makedirs(out, exist_ok=True)
    total = 0
    for name, package, read in SOURCES:
        text = read()
        for i, doc in enumerate(documents(text)):
            with open(os.path.join(out, f"{name}-{i:05d}.txt"), "w", encoding="utf-8") as f:
                f.write(doc)
        total += len(text.encode("utf-8"))
        print(f"  {name:8s} ({package}): {len(text.encode('utf-8')) / 1e6:.1f} MB", file=sys.stderr)
    print(f"  total: {total / 1e6:.1f} MB in {len(os.listdir(out))} documents", file=sys.stderr)


def cmd_hf_train(corpus, vocab, merges_out):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    docs = read_corpus(corpus)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=int(vocab) - 1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    start = time.perf_counter()
    tok.train_from_iterator(docs, trainer)
    seconds = time.perf_counter() - start
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [m if isinstance(m, list) else m.split(" ") for m in merges]
    json.dump(merges, open(merges_out, "w"))
    print(json.dumps({"seconds": seconds, "merges": len(merges)}))


def cmd_same_merges(ours_json, hf_merges):
    ours = json.load(open(ours_json, encoding="utf-8"))["model"]["merges"]
    theirs = json.load(open(hf_merges, encoding="utf-8"))
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
    if first is None and len(ours) != len(theirs):
        first = min(len(ours), len(theirs))
    print(json.dumps({"identical": first is None, "first_difference": first,
                      "ours": len(ours), "theirs": len(theirs)}))


def tiktoken_from(tokenizer_json):
    """A tiktoken Encoding whose ranks are our ids: same bytes, same merge order."""
    import tiktoken
    spec = json.load(open(tokenizer_json, encoding="utf-8"))
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_of = {chr(c): b for b, c in zip(bs, cs)}
    specials = {t["content"]: t["id"] for t in spec["added_tokens"]}
    ranks = {bytes(byte_of[ch] for ch in tok): i
             for tok, i in spec["model"]["vocab"].items() if tok not in specials}
    return tiktoken.Encoding(name="tracker", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens=specials)


def cmd_tiktoken_encode(tokenizer_json, corpus, threads):
    enc = tiktoken_from(tokenizer_json)
    docs = read_corpus(corpus)
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    start = time.perf_counter()
    if int(threads) == 1:
        ids = [enc.encode_ordinary(d) for d in docs]
    else:
        ids = enc.encode_ordinary_batch(docs, num_threads=int(threads))
    seconds = time.perf_counter() - start
    tokens = sum(len(x) for x in ids)
    print(json.dumps({"seconds": seconds, "bytes": nbytes, "tokens": tokens,
                      "megabytesPerSecond": nbytes / 1e6 / seconds}))


def cmd_same_ids(tokenizer_json, sample_dir, ids_jsonl):
    enc = tiktoken_from(tokenizer_json)
    docs = read_corpus(sample_dir)
    ours = [json.loads(line) for line in open(ids_jsonl)]
    bad = [i for i, (d, o) in enumerate(zip(docs, ours)) if enc.encode_ordinary(d) != o]
    print(json.dumps({"identical": not bad and len(docs) == len(ours), "documents": len(docs),
                      "differing": bad[:10]}))


def cmd_table(results):
    rows = [json.loads(line) for line in open(results)]
    print()
    print(f"{'task':34s} {'threads':>7s} {'tracker':>12s} {'reference':>12s} {'ratio':>7s}  check")
    for r in rows:
        if r["kind"] == "train":
            ratio = r["hf"] / r["ours"]
            print(f"{'train V=' + str(r['vocab']) + ' vs HF tokenizers':34s} {r['threads']:>7d} "
                  f"{r['ours']:>10.2f} s {r['hf']:>10.2f} s {ratio:>6.2f}x  "
                  f"merges identical: {r['identical']}")
        else:
            ratio = r["ours"] / r["tiktoken"]
            print(f"{'encode V=' + str(r['vocab']) + ' vs tiktoken':34s} {r['threads']:>7d} "
                  f"{r['ours']:>7.2f} MB/s {r['tiktoken']:>7.2f} MB/s {ratio:>6.2f}x  "
                  f"ids identical: {r['identical']}")
    print("ratio: how many times faster tracker is (reference time / tracker time)")


if __name__ == "__main__":
    commands = {"corpus": cmd_corpus, "hf-train": cmd_hf_train, "same-merges": cmd_same_merges,
                "tiktoken-encode": cmd_tiktoken_encode, "same-ids": cmd_same_ids,
                "table": cmd_table}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
