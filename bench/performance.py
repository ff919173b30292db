#!/usr/bin/env python3
"""Writes the README's Performance section from one bench/all.sh pass (Python standard library only).

    python3 bench/performance.py PASS_DIR [--readme README.md] [--stdout]

PASS_DIR is a bench/out/pass-YYYYMMDD-HHMM/ folder: pass.json, scripts.jsonl, results.jsonl and
NAME.out / NAME.log per script. The section goes between the README's two marker lines (the rest
of the README is left as it is): a header with the date, commit, machine and the load over the
pass; one table of every figure (what, ours, reference, ratio, target, met); then each script's
own printed output in a collapsed <details>. --stdout prints the section instead.
"""
import html
import json
import pathlib
import sys
import textwrap

BEGIN = "<!-- performance:begin (written by bench/all.sh) -->"
END = "<!-- performance:end -->"


def read_lines(path):
    """The JSON objects of a JSON-lines file; a line that does not parse is reported and skipped."""
    rows = []
    if not path.exists():
        return rows
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            print(f"performance.py: {path}:{number} is not JSON; skipped", file=sys.stderr)
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            print(f"performance.py: {path}:{number} is not a JSON object; skipped", file=sys.stderr)
    return rows


def cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ").strip()


def number(value):
    """value as a number, 0 if it is none (pass.json is bench/all.sh's, but may be edited by hand)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def wrap(text):
    return textwrap.fill(text, width=100, break_on_hyphens=False, break_long_words=False)


def duration(seconds):
    try:
        seconds = int(round(float(seconds)))
    except (TypeError, ValueError, OverflowError):
        return "? s"
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def load_range(scripts):
    """The 1-minute load averages seen before and after the scripts, as (lowest, highest)."""
    values = []
    for s in scripts:
        for key in ("loadBefore", "loadAfter"):
            try:
                values.append(float(str(s.get(key, "")).split()[0]))
            except (IndexError, ValueError):
                pass
    return (min(values), max(values)) if values else None


def header(meta, scripts):
    started = str(meta.get("started", "?"))
    day, _, clock = started.partition("T")
    finished = str(meta.get("finished", "")).partition("T")[2]
    span = f"{clock[:5]}-{finished[:5]} UTC" if finished else f"from {clock[:5]} UTC (unfinished)"
    commit = str(meta.get("commit", "?")) + (" with local changes" if meta.get("dirty") else "")
    built = "built from it for this pass" if meta.get("binaryBuiltNow") else f"given: `{meta.get('binary', '?')}`"
    loads = load_range(scripts)
    nproc = number(meta.get("nproc"))
    lines = []
    if meta.get("quick"):
        lines += [wrap("**`--quick` pass: tiny sizes to check the machinery; these numbers are not measurements "
                       "(do not commit this section).**"), ""]
    # The pass's own scripts keep every CPU busy (a load of nproc is the pass alone), so only a
    # load above nproc + 1 means that something else ran too.
    if loads and nproc and loads[1] > nproc + 1:
        lines += [wrap(f"**Loaded machine: the load average reached {loads[1]:.1f} on {nproc} CPUs during this pass; "
                       "the absolute figures are inflated, only ratios measured side by side mean anything.**"), ""]
    options = " ".join(o for o, on in (("--full", meta.get("full")), ("--quick", meta.get("quick"))) if on)
    if meta.get("only"):
        options += f" --only {meta['only']}"
    lines += [f"### Pass of {day}, {span} (`bash bench/all.sh{' ' + options if options else ''}`)", "",
              wrap(f"Scripts at commit {commit}; release binary {built}. Machine: {nproc} CPUs ({meta.get('cpu', '?')}), "
              f"{number(meta.get('memoryBytes')) / 2**30:.1f} GiB of memory; load average (1 min) "
              + (f"{loads[0]:.1f}-{loads[1]:.1f}" if loads else "not recorded")
              + " over the pass (before and after each script: in the headings of the outputs below). Each row is one "
              "script's figure, ours and the reference side by side in the same run; ratio: how many times "
              "better ours is unless it says otherwise.")]
    return lines


def table(scripts, results):
    lines = ["| what | ours | reference | ratio | target | met |", "|---|---|---|---|---|---|"]
    by_script = {}
    for r in results:
        by_script.setdefault(r.get("script", "?"), []).append(r)
    for s in scripts:
        name, status = s["script"], s.get("status", "?")
        rows = by_script.pop(name, [])
        source = f"`bench/{name}.sh`"
        if status == "skipped":
            lines.append(f"| {source} | skipped: {cell(s.get('skipped', ''))} | | | | |")
            continue
        for i, r in enumerate(rows):
            what = cell(r.get("what", "")) + (f" ({source})" if i == 0 else "")
            met = {"yes": "yes", "no": "**no**"}.get(r.get("met", ""), cell(r.get("met", "")))
            lines.append(f"| {what} | {cell(r.get('ours', ''))} | {cell(r.get('reference', ''))} "
                         f"| {cell(r.get('ratio', ''))} | {cell(r.get('target', ''))} | {met} |")
        if status != "ok":
            lines.append(f"| {source} | **{cell(status)}**: see its log below | | | | |")
        elif not rows:
            lines.append(f"| {source} | no figures recorded | | | | |")
    for name, rows in by_script.items():
        print(f"performance.py: {len(rows)} figure(s) of {name}, which is not in scripts.jsonl; left out",
              file=sys.stderr)
    return lines


def details(pass_dir, scripts):
    lines = []
    for s in scripts:
        if s.get("status") == "skipped":
            continue
        name = s["script"]
        out = pass_dir / f"{name}.out"
        text = out.read_text(errors="replace").strip() if out.exists() else ""
        if s.get("status") != "ok":
            log = pass_dir / f"{name}.log"
            tail = log.read_text(errors="replace").strip().splitlines()[-15:] if log.exists() else []
            text += ("\n\n" if text else "") + "stderr, last lines:\n" + "\n".join(tail)
        text = text.replace("```", "'''")
        lines += ["", f"<details><summary><code>{html.escape(s.get('command', name))}</code>: {cell(s.get('status', '?'))}, "
                  f"{duration(s.get('seconds', 0))}, load {s.get('loadBefore', '?')} before, "
                  f"{s.get('loadAfter', '?')} after</summary>", "", "```", text or "(no output)", "```", "",
                  "</details>"]
    return lines


def section(pass_dir):
    meta_path = pass_dir / "pass.json"
    if not meta_path.exists():
        sys.exit(f"performance.py: no pass.json in {pass_dir}: give a folder that bench/all.sh wrote")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError:
        sys.exit(f"performance.py: {meta_path} is not JSON; re-run bench/all.sh")
    if not isinstance(meta, dict):
        sys.exit(f"performance.py: {meta_path} is not a JSON object; re-run bench/all.sh")
    scripts = [s for s in read_lines(pass_dir / "scripts.jsonl") if "script" in s]
    results = read_lines(pass_dir / "results.jsonl")
    body = header(meta, scripts) + [""] + table(scripts, results) + details(pass_dir, scripts)
    return "\n".join(body)


def write(readme, text):
    content = readme.read_text()
    if content.count(BEGIN) != 1 or content.count(END) != 1 or content.index(BEGIN) > content.index(END):
        sys.exit(f"performance.py: {readme} needs the two marker lines, once each, in this order, under "
                 f"'## Performance':\n{BEGIN}\n{END}")
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + BEGIN + "\n\n" + text + "\n\n" + END + tail)


def main(argv):
    args = list(argv)
    readme, to_stdout = pathlib.Path("README.md"), False
    if "--stdout" in args:
        args.remove("--stdout")
        to_stdout = True
    if "--readme" in args:
        i = args.index("--readme")
        if i + 1 >= len(args):
            sys.exit("performance.py: --readme needs a file")
        readme = pathlib.Path(args.pop(i + 1))
        args.pop(i)
    if len(args) != 1:
        sys.exit(__doc__.strip())
    text = section(pathlib.Path(args[0]))
    if to_stdout:
        print(text)
    else:
        write(readme, text)
        print(f"performance.py: wrote the Performance section of {readme} from {args[0]}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
