"""Shared test setup: Qt runs offscreen, so the tests need no screen."""

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The repository root, so `import viewer` works without installing anything.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
