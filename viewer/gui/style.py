"""The window's style sheet: small touches over the platform's own look.

Colours come from the palette where possible, so a dark desktop theme stays
readable; only the message strip has fixed colours.
"""

from PyQt5.QtWidgets import QWidget

STYLE = """
QLabel#netTitle { font-size: 15px; font-weight: 600; }
QLabel#netSource, QLabel#samplesSource, QLabel#netTotals, QLabel#statsScope {
    color: palette(dark);
}
QLabel#plotTitle { font-size: 13px; }
/* Readouts and summaries beside controls: the platform's proportional font, since a
   monospace one is a third wider and cut them short in a 1280-pixel window. */
QLabel#hoverText { color: palette(dark); }
QLabel#plotMessage { color: palette(dark); font-size: 14px; }
QLabel#sampleLabel, QLabel#samplePrediction { font-size: 13px; }
QFrame#banner { border-radius: 4px; border: 1px solid #e0a0a0; background: #fdecea; }
QFrame#banner[level="warning"] { border: 1px solid #e6c36a; background: #fff6d6; }
QFrame#banner QLabel { color: #5f2120; }
QFrame#banner[level="warning"] QLabel { color: #5c4400; }
QGroupBox {
    font-weight: 600; border: 1px solid palette(mid); border-radius: 4px;
    margin-top: 1.1em; padding: 0.6em 6px 6px 6px;
}
QGroupBox::title { subcontrol-origin: margin; subcontrol-position: top left; left: 8px; padding: 0 4px; }
QGroupBox QLabel, QGroupBox QPushButton, QGroupBox QSpinBox { font-weight: normal; }
"""


def apply_style(window: QWidget) -> None:
    """Give ``window`` and everything in it the style sheet."""
    window.setStyleSheet(STYLE)
