"""``python -m benchmarks.scale.paired``: two versions of the lab, measured in alternation.

The project's rule is that a change keeps the scale figures within noise, and
noise here is the machine's own drift (its speed moves by half over an hour), so
two versions are compared by *paired runs*: the same case for the old code
(``--base``) and the new (``--head``, by default this tree), back to back, pair
after pair, the order alternating between pairs (base, head; head, base; …) so
that a drift favours neither.

Each version runs from a checkout of its own: a temporary detached ``git
worktree`` per revision (removed at the end, also on Ctrl-C), or a directory
given as ``--head``. Only the *server* runs from it (its working directory and
``PYTHONPATH``, see :class:`~benchmarks.scale.cases.Source`); the swarms, the
runner and the figures are always this tree's, so both versions are measured by
the same yardstick. Every case is the scale suite's one-process lab case,
run and recorded by :class:`~benchmarks.scale.output.ScaleRun`: ``results.json``
holds each raw scenario (named ``…-base`` / ``…-head``, ``-rK`` for pair K), and
``paired.md`` the table of :mod:`benchmarks.scale.paired_table`, also printed.

It judges nothing: whether a difference is within noise is the reader's call,
with every pair in front of them.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from benchmarks.scale.cases import COMPARE_WINDOW_S, Case, Source
from benchmarks.scale.output import ScaleRun
from benchmarks.scale.paired_table import PAIRED, order, paired_markdown
from benchmarks.suite.rundir import (
    EXIT_INTERRUPTED,
    default_out_dir,
    new_results,
    run_until_stopped,
)

COMPARED = ("websocket", "sse", "stream", "longpoll")
"""The transports a paired run may compare: the pushes, whose cases give CPU per delivery
and a latency (a closed-loop short poll gives neither)."""
THIS_TREE = Path(__file__).resolve().parents[2]
"""The checkout this module runs from: the head by default, and always the swarms' tree."""


class GitError(RuntimeError):
    """A revision that does not resolve, or a worktree git would not make."""


def git(*args: str, cwd: Path = THIS_TREE) -> str:
    """Run ``git args…`` in ``cwd``; its stdout, stripped (:class:`GitError` on failure)."""
    done = subprocess.run(("git", *args), cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise GitError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def tree_commit(path: Path) -> str:
    """The commit a checkout stands on, ``+dirty`` when it has uncommitted changes."""
    commit = git("rev-parse", "HEAD", cwd=path)
    return commit + ("+dirty" if git("status", "--porcelain", cwd=path) else "")


@contextlib.contextmanager
def checkout(rev: str, label: str, parent: Path) -> Iterator[Source]:
    """A detached worktree of revision ``rev`` under ``parent`` for as long as the block lasts;
    or, when ``rev`` is no revision but a directory, that checkout as it is (left alone)."""
    try:
        commit = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except GitError:
        if not Path(rev).is_dir():
            raise GitError(f"{rev!r} is neither a revision of this repository nor a "
                           "directory") from None
        path = Path(rev).resolve()
        yield Source(label, path, tree_commit(path))
        return
    path = parent / f"{label}-{commit[:12]}"
    git("worktree", "add", "--detach", "--quiet", str(path), commit)
    try:
        yield Source(label, path, commit)
    finally:
        with contextlib.suppress(GitError):
            git("worktree", "remove", "--force", str(path))


def schedule(sources: Mapping[str, Source], transports: Sequence[str], pairs: int,
             clients: int, duration_s: float) -> list[Case]:
    """Every case in the order it runs: pair after pair; within a pair each transport's two
    versions back to back, in :func:`order`."""
    return [Case("lab", transport, clients, duration_s=duration_s, purpose=PAIRED,
                 repeat=pair, source=sources[label])
            for pair in range(1, pairs + 1) for transport in transports
            for label in order(pair)]


async def run_cases(run: ScaleRun, cases: Sequence[Case], seed: int) -> None:
    """Run and record the cases one after the other."""
    for case in cases:
        await run.run(case, seed)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale.paired",
                                     description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--base", required=True, help="the old version: a git revision")
    add("--head", default=str(THIS_TREE), help="the new version: a git revision or a "
        "checkout's directory (by default this tree, as it is, uncommitted changes and all)")
    add("--transports", default=",".join(COMPARED),
        help=f"comma-separated, from {', '.join(COMPARED)}")
    add("--clients", type=int, default=5000, help="N of every case")
    add("--duration", type=float, default=COMPARE_WINDOW_S, help="timed window, seconds")
    add("--pairs", type=int, default=3, help="pairs of runs (base and head) per transport")
    add("--out", type=Path, help="output directory (default: reports/<timestamp>-paired)")
    add("--seed", type=int, default=1, help="seed of the feeds and subsamples")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 when every case ran, 1 if one errored, 2 on bad usage, 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    if (not transports or not set(transports) <= set(COMPARED)
            or not 1 <= args.clients <= 19_000 * 8 or args.duration <= 0
            or not 1 <= args.pairs <= 9):
        print(f"error: --transports from {', '.join(COMPARED)}, --clients 1..152000, "
              "--duration > 0, --pairs 1..9", file=sys.stderr)
        return 2
    parent = Path(tempfile.mkdtemp(prefix="paired-"))
    try:
        with contextlib.ExitStack() as stack:  # the worktrees go, whatever happens
            sources = {"base": stack.enter_context(checkout(args.base, "base", parent)),
                       "head": stack.enter_context(checkout(args.head, "head", parent))}
            run = ScaleRun(args.out or default_out_dir("-paired"),
                           new_results("scale-paired", args.seed))
            for source in sources.values():
                print(f"{source.label}: {source.commit} (server run from {source.path})")
            cases = schedule(sources, transports, args.pairs, args.clients, args.duration)
            finished = run_until_stopped(run_cases(run, cases, args.seed),
                                         (signal.SIGINT, signal.SIGTERM))
            status = run.finish(finished, build_report=False)
    except (GitError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    table = paired_markdown(run.scenarios)
    (run.out_dir / "paired.md").write_text(table)
    print(f"\n{table}\npaired: {run.out_dir / 'paired.md'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
