#!/usr/bin/env python3
"""Rebuilds corpora/bundled.tar.xz, tracker's default corpus, from Debian packages.

Sources (all public domain, installed with apt-get):
  bible-kjv + bible-kjv-text  the King James Bible, one document per chapter (1,189)
  dict-devil                  Ambrose Bierce, The Devil's Dictionary, one document per entry
  jargon-text                 The Jargon File 4.4.7, one document per entry

The archive is deterministic: sorted member names, fixed mtime, owner and mode, so rebuilding
on another machine gives the same bytes when the packages have the same version.
Usage: python3 corpora/build.py   (needs: apt-get install bible-kjv dict-devil jargon-text)
"""
import base64, gzip, io, lzma, os, re, subprocess, sys, tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "bundled.tar.xz")
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def kjv():
    text = subprocess.run(["bible", "-l0", "Gen1:1-Rev22:21"], check=True, capture_output=True).stdout.decode()
    docs, name, lines = [], None, []
    for line in text.splitlines():
        m = re.fullmatch(r"((?:[1-3] )?[A-Z][A-Za-z ]+?) (\d+)", line.strip())
        if m and not line.startswith(" "):
            if name:
                docs.append((name, "\n".join(lines).strip() + "\n"))
            book, chapter = m.group(1), int(m.group(2))
            name, lines = f"kjv/{len(docs) + 1:04d}-{book.replace(' ', '_')}-{chapter:03d}.txt", [line.strip()]
        elif name:
            lines.append(re.sub(r"^\s*\d+ ", "", line))
    docs.append((name, "\n".join(lines).strip() + "\n"))
    assert len(docs) == 1189, len(docs)
    return docs


def b64int(s):
    n = 0
    for ch in s:
        n = n * 64 + B64.index(ch)
    return n


def devil():
    data = gzip.open("/usr/share/dictd/devil.dict.dz").read()
    docs = []
    for line in open("/usr/share/dictd/devil.index", encoding="utf-8"):
        word, off, size = line.rstrip("\n").split("\t")
        if word.startswith("00database"):
            continue
        body = data[b64int(off): b64int(off) + b64int(size)].decode("utf-8").strip() + "\n"
        slug = re.sub(r"[^a-z0-9]+", "-", word.lower()).strip("-") or "entry"
        docs.append((f"devil/{len(docs) + 1:04d}-{slug}.txt", body))
    return docs


def jargon():
    text = gzip.open("/usr/share/doc/jargon-text/jargon.txt.gz").read().decode("utf-8")
    docs, name, lines = [], None, []
    for line in text.splitlines():
        m = re.match(r"^   :([^:]+):", line)
        if m:
            if name:
                docs.append((name, "\n".join(l.strip() for l in lines).strip() + "\n"))
            slug = re.sub(r"[^a-z0-9]+", "-", m.group(1).lower()).strip("-") or "entry"
            name, lines = f"jargon/{len(docs) + 1:04d}-{slug[:40]}.txt", [line]
        elif name:
            lines.append(line)
    docs.append((name, "\n".join(l.strip() for l in lines).strip() + "\n"))
    return docs


def main():
    docs = kjv() + devil() + jargon()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, body in sorted(docs):
            data = body.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 946684800, 0o644, 0, 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    packed = lzma.compress(raw.getvalue(), preset=9 | lzma.PRESET_EXTREME)
    with open(OUT, "wb") as f:
        f.write(packed)
    total = sum(len(b.encode()) for _, b in docs)
    print(f"wrote {OUT}: {len(docs)} documents, {total / 1e6:.1f} MB of text, {len(packed) / 1e6:.2f} MB packed")
    if len(packed) > 5_000_000:
        sys.exit("the bundled corpus must stay under 5 MB")


if __name__ == "__main__":
    main()
