"""Run fuzz cases through the command line and classify what happened.

Each case is made from (run seed, case index) alone: a seed file, copied into
a fresh folder and mutated. The command line then runs on it in a forked
child (the modules are imported once, in the worker) with an address-space
cap and a time limit; the child's process group is killed when time is up.

Outcome classes, worst first:

    hang         the command did not finish within the time limit
    crash        the process died of a signal (libhdf5 segfaults land here)
    blow-up      peak memory above the budget (1 GB), or a MemoryError
    wrote-input  an input file changed, or a file appeared beside it
    traceback    a Python traceback, or an exit code other than 0 and 2
    leftover     a ``.part`` file left beside the output
    bad-message  exit code 2 but not exactly one stderr line naming the file
    noisy        exit code 0 with something on stderr (an unfolded warning)
    accepted     exit code 0, quiet
    clean-error  exit code 2, one line naming the file
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import signal
import sys
import time
import traceback
from dataclasses import asdict, dataclass

FAILURES = ("hang", "crash", "blow-up", "wrote-input", "traceback", "leftover", "bad-message")
CLASSES = FAILURES + ("noisy", "accepted", "clean-error")
PEAK_BUDGET_MB = 1024
ADDRESS_CAP = 3 << 30  # the child cannot take the machine down while it blows up


@dataclass
class Outcome:
    index: int
    reader: str
    seed: str
    mutation: str
    outcome: str
    exit_code: int
    peak_mb: float
    seconds: float
    stderr: str


def _digest(folder: str) -> dict[str, str]:
    out = {}
    for name in sorted(os.listdir(folder)):
        full = os.path.join(folder, name)
        if os.path.isfile(full):
            with open(full, "rb") as fh:
                out[name] = hashlib.sha256(fh.read()).hexdigest()
    return out


def command(seed, paths: list[str], out: str, demo_net: str) -> list[str]:
    """The command line a case runs."""
    if seed.command == "info":
        return ["info", paths[0]]
    if seed.command == "export":
        return ["export", paths[0], "--layer", "-1", "--sample", "0", "-o", os.path.join(out, "act.npy")]
    if seed.command == "convert":
        return ["convert", paths[0], "-o", os.path.join(out, "net.h5")]
    return ["export", demo_net, "--samples", paths[0], "--layer", "-1", "--sample", "0",
            "-o", os.path.join(out, "act.npy")]


def prepare(run_seed: int, index: int, seeds: list, work: str):
    """Make case ``index``'s folder; returns (seed, paths, mutation, folder)."""
    from fuzz.mutate import mutate
    from fuzz.seeds import copy_seed
    rng = random.Random(f"{run_seed}-{index}")
    readers = sorted({s.reader for s in seeds})
    reader = readers[index % len(readers)]  # every reader gets the same share of cases
    seed = rng.choice([s for s in seeds if s.reader == reader])
    folder = os.path.join(work, f"case{index}")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "in"))
    os.makedirs(os.path.join(folder, "out"))
    paths = copy_seed(seed, os.path.join(folder, "in"))
    mutation = mutate(rng, seed.reader, paths)
    return seed, paths, mutation, folder


def _child(argv: list[str], folder: str) -> None:
    """In the forked child: run the command line with the caps in place, then exit."""
    os.setpgid(0, 0)
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_CAP, ADDRESS_CAP))
    out = os.open(os.path.join(folder, "stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = os.open(os.path.join(folder, "stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 1)
    os.dup2(err, 2)
    # The worker's sys.stdout/stderr may be someone's capture (pytest's): write to the files.
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    code = 70
    try:
        from viewer.cli import main
        code = main(argv)
    except BaseException:  # everything escaping the command line is what the fuzzer looks for
        traceback.print_exc()
        code = 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 70)


def run_case(run_seed: int, index: int, seeds: list, work: str, demo_net: str,
             time_limit: float, keep: bool = False) -> Outcome:
    """Make, run and classify one case."""
    seed, paths, mutation, folder = prepare(run_seed, index, seeds, work)
    inputs = os.path.join(folder, "in")
    before = _digest(inputs)
    demo_before = _digest(os.path.dirname(demo_net))
    argv = command(seed, paths, os.path.join(folder, "out"), demo_net)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(argv, folder)
    hung = False
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > time_limit:
            hung = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            done, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.01)
    seconds = time.monotonic() - start
    peak_mb = usage.ru_maxrss / 1024
    if not hung:  # a probe grandchild may outlive a killed child
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    code = os.waitstatus_to_exitcode(status)
    with open(os.path.join(folder, "stderr"), encoding="utf-8", errors="replace") as fh:
        stderr = fh.read()
    after = _digest(inputs)
    leftovers = [n for n in os.listdir(os.path.join(folder, "out")) if n.endswith(".part")]
    names = [p for p in paths] + [os.path.basename(p) for p in paths]
    lines = [line for line in stderr.splitlines() if line.strip()]
    if hung:
        outcome = "hang"
    elif code < 0:
        outcome = "crash"
    elif peak_mb > PEAK_BUDGET_MB or "MemoryError" in stderr:
        outcome = "blow-up"
    elif after != before or _digest(os.path.dirname(demo_net)) != demo_before:
        outcome = "wrote-input"
    elif "Traceback (most recent call last)" in stderr or code not in (0, 2):
        outcome = "traceback"
    elif leftovers:
        outcome = "leftover"
    elif code == 2:
        ok = len(lines) == 1 and any(n in lines[0] for n in names)
        outcome = "clean-error" if ok else "bad-message"
    else:
        outcome = "noisy" if lines else "accepted"
    result = Outcome(index, seed.reader, os.path.basename(seed.files[0]), mutation, outcome, code,
                     round(peak_mb, 1), round(seconds, 2), stderr[-2000:])
    if not keep and outcome not in FAILURES:
        shutil.rmtree(folder, ignore_errors=True)
    return result


class Worker:
    """One worker process: seeds made once, cases run one after another."""

    def __init__(self, work: str, seed_folder: str, run_seed: int, time_limit: float, keep: bool):
        from fuzz.seeds import all_seeds
        self.work, self.run_seed, self.time_limit, self.keep = work, run_seed, time_limit, keep
        self.seeds = all_seeds(seed_folder)
        self.demo_net = os.path.join(seed_folder, "net", "demo_cnn.h5")

    def __call__(self, index: int) -> Outcome:
        return run_case(self.run_seed, index, self.seeds, self.work, self.demo_net, self.time_limit,
                        self.keep)


def preload() -> None:
    """Import what the commands import, so each forked case starts warm."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    import h5py  # noqa: F401
    import numpy  # noqa: F401
    import onnx  # noqa: F401
    import PIL.Image  # noqa: F401

    import viewer.cli  # noqa: F401
    import viewer.convert.keras_h5  # noqa: F401
    import viewer.convert.onnx_model  # noqa: F401
    import viewer.convert.pt2_model  # noqa: F401
    import viewer.convert.tflite_model  # noqa: F401
    import viewer.data  # noqa: F401
    import viewer.export  # noqa: F401
    import viewer.session  # noqa: F401


def setup_seeds(folder: str) -> None:
    """Make the generated seeds and the demo net copy the samples cases run on."""
    from fuzz.seeds import DEMO, make_sample_seeds, make_theano_seeds
    os.makedirs(os.path.join(folder, "net"), exist_ok=True)
    make_sample_seeds(folder)
    make_theano_seeds(folder)
    shutil.copyfile(os.path.join(DEMO, "digits_cnn.h5"), os.path.join(folder, "net", "demo_cnn.h5"))


def summary(outcomes: list[Outcome]) -> str:
    """A table of outcome counts per reader, and the totals."""
    readers = sorted({o.reader for o in outcomes})
    shown = [c for c in CLASSES if any(o.outcome == c for o in outcomes)]
    rows = [["reader", "cases"] + shown]
    for r in readers + ["all"]:
        mine = [o for o in outcomes if r in ("all", o.reader)]
        rows.append([r, str(len(mine))] + [str(sum(o.outcome == c for o in mine)) for c in shown])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    peak = max((o.peak_mb for o in outcomes), default=0)
    lines.append(f"peak memory of any case: {peak:.0f} MB; slowest case: "
                 f"{max((o.seconds for o in outcomes), default=0):.1f} s")
    return "\n".join(lines)


def to_json(outcome: Outcome) -> str:
    return json.dumps(asdict(outcome))
