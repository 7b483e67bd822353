"""Mutation fuzz of every reader through the command line.

    python bench/fuzz.py [--cases 5000] [--seed 1] [--jobs 2] [--time-limit 60]
                         [--log fuzz.jsonl] [--keep DIR] [--first N] [--case N]

Each case damages one good file (byte flips, truncations, inserted and
zeroed ranges, structural edits with h5py/onnx/zipfile, zip and
decompression bombs, wrong types in configs) and runs the command line on
it under a 3 GB address-space cap and a time limit. Outcomes are classified
as in ``tests/fuzz/runner.py``; the exit code is 1 when any case is a
failure (hang, crash, blow-up over 1 GB, wrote-input, traceback, leftover,
bad message). ``--case N`` reruns one case and keeps its folder.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

_worker = None


def _init(work: str, seed_folder: str, run_seed: int, time_limit: float, keep: bool) -> None:
    global _worker
    from fuzz.runner import Worker, preload
    preload()
    _worker = Worker(work, seed_folder, run_seed, time_limit, keep)


def _run(index: int):
    return _worker(index)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--log", help="write one JSON line per case here")
    parser.add_argument("--keep", help="keep every case folder under this directory")
    parser.add_argument("--first", type=int, default=0, help="the first case index (to resume a run)")
    parser.add_argument("--case", type=int, help="run only this case index, keep its folder, print it")
    args = parser.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="strata-fuzz-")
    seed_folder = os.path.join(work, "seeds")
    from fuzz.runner import FAILURES, setup_seeds, summary, to_json
    setup_seeds(seed_folder)
    keep = bool(args.keep) or args.case is not None
    indices = [args.case] if args.case is not None else list(range(args.first, args.first + args.cases))
    ctx = multiprocessing.get_context("spawn")
    outcomes = []
    log = open(args.log, "w") if args.log else None
    start = time.monotonic()
    with ctx.Pool(args.jobs, _init, (work, seed_folder, args.seed, args.time_limit, keep),
                  maxtasksperchild=200) as pool:
        for n, outcome in enumerate(pool.imap_unordered(_run, indices), 1):
            outcomes.append(outcome)
            if log:
                log.write(to_json(outcome) + "\n")
                log.flush()
            if outcome.outcome in FAILURES or args.case is not None:
                tail = outcome.stderr.strip().splitlines()[-1:] or [""]
                print(f"case {outcome.index} [{outcome.reader} {outcome.seed}: {outcome.mutation}] "
                      f"{outcome.outcome} rc={outcome.exit_code} {outcome.peak_mb:.0f} MB "
                      f"{outcome.seconds:.1f} s: {tail[0][:300]}", flush=True)
            if n % 250 == 0:
                print(f"... {n}/{len(indices)} cases, {time.monotonic() - start:.0f} s", flush=True)
    outcomes.sort(key=lambda o: o.index)
    print(f"\nseed {args.seed}, {len(outcomes)} cases in {time.monotonic() - start:.0f} s "
          f"({args.jobs} jobs, time limit {args.time_limit:.0f} s per case); case folders: {work}")
    print(summary(outcomes))
    return 1 if any(o.outcome in FAILURES for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
