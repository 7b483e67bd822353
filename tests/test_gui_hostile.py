"""The window while a hostile file is checked: timers keep ticking, the net stays."""

import os
import pathlib
import time

from PyQt5.QtCore import QTimer

from viewer import limits

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def test_window_keeps_ticking_while_a_hanging_keras_file_is_checked(qtbot, window, tmp_path,
                                                                     monkeypatch, capfd):
    monkeypatch.setenv(limits.ENV, "check_seconds=3")
    data = bytearray(pathlib.Path(os.path.join(FIXTURES, "keras2_theano_cl_cnn.h5")).read_bytes())
    data[5326:5326 + 4096] = bytes(4096)  # libhdf5 spins forever on this object header
    bad = tmp_path / "spins.h5"
    bad.write_bytes(data)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    before = window.layers.tree.topLevelItemCount()
    net_path = window.state.net.path
    start = time.monotonic()
    with qtbot.waitSignal(window.state.openFailed, timeout=60_000) as failed:
        window.state.open(str(bad))
    took = time.monotonic() - start
    timer.stop()
    assert failed.args[0] == (f"{bad}: damaged file (reading it did not finish in 3 s; if it is "
                              f"only large and slow, raise --limit check_seconds)")
    assert str(bad) in window.banner.text.text()
    assert window.state.net.path == net_path
    assert window.layers.tree.topLevelItemCount() == before
    # The check took its 3 s; a loader thread holding the GIL would have stopped every tick.
    assert took >= 3
    gaps = [b - a for a, b in zip([start] + ticks, ticks)]
    assert len(ticks) > 10 and max(gaps) < took / 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [failed.args[0]] or (len(err) == 1 and str(bad) in err[0])
