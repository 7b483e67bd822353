"""Soak of the real window: thousands of switches, then the fuzzer's hostile files.

    QT_QPA_PLATFORM=offscreen python bench/soak.py [--switches 10000] [--every 500]
                                                  [--hostile 200] [--seed 5]

Part 1 drives a MainWindow on the demo net through ``--switches`` seeded
layer, sample and view (tab) switches, each waited for until its result is
drawn, and samples the process's resident memory (``/proc/self/statm``)
every ``--every`` switches: memory must stay flat. Part 2 opens ``--hostile``
damaged files made by the fuzzer (``tests/fuzz``, the same cases as
``bench/fuzz.py --seed S``, spread over every reader) in the window on the
fuzzer's demo CNN, with a 20 ms timer ticking: the ticks must keep coming
(the longest gap is reported), a refused file must leave the net in place
and put one line naming the file in the banner.

Both parts count the exceptions that reach the safety hooks
(``viewer.gui.safety``) and every line the window reports on stderr. Exit
code 1 when an exception reached a hook, a switch or an open never finished,
a net was lost, a banner did not name its file, or memory grew by more than
``--growth`` MB from the sample after the first ``--every`` switches (every
tab built, caches filled) to the last.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK_MS = 20
STALL_S = 1.0  # a tick gap this long is reported as a stall of the window


def rss_mb() -> float:
    """Resident memory of this process, from /proc/self/statm (pages)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / (1 << 20)


class Counts(logging.Handler):
    """Exceptions that reached the safety hooks, and the lines the window reported."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.exceptions: list[str] = []
        self.reported: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.reported.append(record.getMessage())

    def wrap_hooks(self) -> None:
        """Count every exception the hooks installed by ``safety.install`` see, then pass it on."""
        main_hook, thread_hook = sys.excepthook, threading.excepthook

        def counted_main(kind, exc, tb):
            self.exceptions.append(f"{kind.__name__}: {exc}")
            main_hook(kind, exc, tb)

        def counted_thread(args):
            self.exceptions.append(f"{args.exc_type.__name__}: {args.exc_value}")
            thread_hook(args)

        sys.excepthook, threading.excepthook = counted_main, counted_thread


def wait(app, done, timeout: float) -> bool:
    """Process events until ``done()``; False if ``timeout`` seconds pass first."""
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            return False
        app.processEvents()
        time.sleep(0.002)  # let the compute thread have the GIL
    return True


def idle(window) -> bool:
    """Nothing computing or loading, and the current result drawn in a result tab."""
    state = window.state
    if state.busy:
        return False
    key = window.views.current_key()
    entry = window.views.entries.get(key)
    if entry is not None and entry.follows_result and state.result is not None:
        view = window.views.widget(key)
        return view is not None and view.current() is state.result
    return True


def soak(app, window, switches: int, every: int, seed: int, tabs: list[str]) -> tuple[list, list]:
    """Part 1: returns (memory samples as (switch, MB), switches that never finished)."""
    rng = random.Random(seed)
    state = window.state
    samples, stuck = [(0, rss_mb())], []
    for n in range(1, switches + 1):
        roll = rng.random()
        if roll < 0.4:
            state.set_layer(rng.randrange(len(state.net)))
            what = f"layer {state.layer}"
        elif roll < 0.8:
            step = rng.choice([1, -1, 1, 1])
            state.set_sample(state.sample + step if rng.random() < 0.7 else rng.randrange(len(state.samples)))
            what = f"sample {state.sample}"
        else:
            key = rng.choice(tabs)
            window.show_view(key)
            what = f"view {key}"
        if not wait(app, lambda: idle(window), 60):
            stuck.append(f"switch {n} ({what})")
        if n % every == 0:
            samples.append((n, rss_mb()))
            print(f"  {n:6d} switches: {samples[-1][1]:7.1f} MB", flush=True)
    if samples[-1][0] != switches:
        samples.append((switches, rss_mb()))
    return samples, stuck


def hostile(app, window, count: int, seed: int, time_limit: float) -> dict:
    """Part 2: open ``count`` fuzz cases in the window; returns the tallies."""
    from PyQt5.QtCore import QTimer

    from fuzz.runner import prepare, setup_seeds
    from fuzz.seeds import all_seeds
    work = tempfile.mkdtemp(prefix="strata-soak-")
    seed_folder = os.path.join(work, "seeds")
    setup_seeds(seed_folder)
    seeds = all_seeds(seed_folder)
    net_file = os.path.join(seed_folder, "net", "demo_cnn.h5")
    state = window.state
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(TICK_MS)
    events: list[tuple[str, str]] = []
    state.openFailed.connect(lambda message: events.append(("failed", message)))
    state.fileOpened.connect(lambda path: events.append(("opened", path)))
    out = {"refused": 0, "opened": 0, "unfinished": [], "net lost": [], "banner": [], "stalls": [],
           "longest gap": 0.0, "slowest": (0.0, "")}

    def open_and_wait(path: str) -> tuple[str, str] | None:
        events.clear()
        state.open(path)
        wait(app, lambda: bool(events) and not state.loader.busy, time_limit)
        return events[-1] if events else None

    for index in range(count):
        if state.net_path != net_file or state.samples_path not in (None, net_file):
            if open_and_wait(net_file) is None or state.net_path != net_file:
                raise SystemExit(f"cannot reopen {net_file}")
        case_seed, paths, mutation, _folder = prepare(seed, index, seeds, work)
        net_before = state.net
        del ticks[:]
        start = time.monotonic()
        outcome = open_and_wait(paths[0])
        took = time.monotonic() - start
        gaps = [b - a for a, b in zip([start] + ticks, ticks + [time.monotonic()])]
        gap = max(gaps)
        label = f"case {index} [{case_seed.reader} {os.path.basename(case_seed.files[0])}: {mutation}]"
        out["longest gap"] = max(out["longest gap"], gap)
        out["slowest"] = max(out["slowest"], (took, label))
        if gap > STALL_S:
            out["stalls"].append(f"{label}: no tick for {gap:.1f} s")
        if outcome is None:
            out["unfinished"].append(label)
        elif outcome[0] == "failed":
            out["refused"] += 1
            if state.net is not net_before:
                out["net lost"].append(label)
            banner = window.banner.text.text()
            if paths[0] not in banner or "\n" in banner:
                out["banner"].append(f"{label}: {banner[:200]!r}")
        else:
            out["opened"] += 1
        if (index + 1) % 50 == 0:
            print(f"  {index + 1} files: {out['refused']} refused, {out['opened']} opened, "
                  f"longest tick gap {out['longest gap']:.2f} s, {rss_mb():.0f} MB", flush=True)
    timer.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=500, help="sample memory every N switches")
    parser.add_argument("--hostile", type=int, default=200, help="fuzz cases to open in the window")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=90.0, help="seconds one open may take")
    parser.add_argument("--views", default="heatmap,histogram,compare,weights",
                        help="the tabs switched between (Explain recomputes its attributions on "
                             "every switch, which bench/explain.py measures; add it to soak it too)")
    parser.add_argument("--growth", type=float, default=50.0,
                        help="MB memory may grow from the first sample to the last")
    args = parser.parse_args()

    from PyQt5.QtCore import QSettings

    from viewer.app.demo import DEMO_NET
    from viewer.gui import safety
    from viewer.gui.app import create_application
    from viewer.gui.main_window import MainWindow

    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, tempfile.mkdtemp(prefix="strata-soak-"))
    app = create_application()  # as the window's: its garbage collected on the main thread
    window = MainWindow()
    window.resize(1280, 800)
    counts = Counts()
    logging.getLogger("strata").addHandler(counts)
    safety.install(window)
    counts.wrap_hooks()
    window.show()
    window.start(str(DEMO_NET))
    if not wait(app, lambda: window.heatmap is not None and window.state.result is not None and idle(window), 120):
        print("the window never drew its first result")
        return 1
    failed = False

    if args.switches:
        start = time.monotonic()
        print(f"part 1: {args.switches} layer/sample/view switches on {DEMO_NET.name} "
              f"(tabs {', '.join(args.views.split(','))})", flush=True)
        tabs = [key for key in args.views.split(",") if key]
        unknown = [key for key in tabs if window.views.entries.get(key) is None
                   or window.views.entries[key].kind != "tab"]
        if unknown:
            print(f"--views: no tab {', '.join(unknown)}")
            return 1
        memory, stuck = soak(app, window, args.switches, args.every, args.seed, tabs)
        middle = min(memory, key=lambda s: abs(s[0] - args.switches / 2))
        growth = memory[-1][1] - memory[1][1] if len(memory) > 2 else 0.0
        print(f"memory: start {memory[0][1]:.1f} MB, after {memory[1][0]} switches {memory[1][1]:.1f} MB, "
              f"middle ({middle[0]}) {middle[1]:.1f} MB, end ({memory[-1][0]}) {memory[-1][1]:.1f} MB; "
              f"growth after the first sample {growth:+.1f} MB; max {max(m for _, m in memory):.1f} MB")
        print(f"switches that never finished: {len(stuck)}; exceptions at the safety hooks: "
              f"{len(counts.exceptions)}; lines reported: {len(counts.reported)}; "
              f"{time.monotonic() - start:.0f} s")
        for line in stuck[:10] + counts.exceptions[:10] + counts.reported[:10]:
            print("   ", line)
        failed |= bool(stuck or counts.exceptions or counts.reported) or growth > args.growth

    if args.hostile:
        exceptions_before = len(counts.exceptions)
        start = time.monotonic()
        print(f"\npart 2: {args.hostile} hostile files (fuzz seed {args.seed}) opened in the window",
              flush=True)
        out = hostile(app, window, args.hostile, args.seed, args.time_limit)
        print(f"refused {out['refused']}, opened {out['opened']}, unfinished {len(out['unfinished'])}, "
              f"net lost {len(out['net lost'])}, banner not one line naming the file {len(out['banner'])}, "
              f"exceptions at the safety hooks {len(counts.exceptions) - exceptions_before}; "
              f"longest gap between {TICK_MS} ms ticks {out['longest gap']:.2f} s, "
              f"stalls over {STALL_S:.0f} s: {len(out['stalls'])}; slowest open {out['slowest'][0]:.1f} s "
              f"({out['slowest'][1]}); memory now {rss_mb():.0f} MB; {time.monotonic() - start:.0f} s")
        for line in (out["unfinished"] + out["net lost"] + out["banner"] + out["stalls"]
                     + counts.exceptions[exceptions_before:])[:20]:
            print("   ", line)
        failed |= bool(out["unfinished"] or out["net lost"] or out["banner"]
                       or len(counts.exceptions) > exceptions_before)
    window.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
