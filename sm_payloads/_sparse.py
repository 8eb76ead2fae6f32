"""``scipy.sparse``, imported when first used.

Importing scipy.sparse costs about 90 ms of CPU (it pulls in parts of numpy.testing,
numpy.f2py and numpy.ma), a third of the package's import time, and most bodies hold no
sparse data. The modules of the package import this module as ``sp`` at run time (and
scipy.sparse itself for type checkers): ``sp.issparse`` answers without importing scipy (no
object is a scipy sparse matrix before scipy.sparse has been imported: its classes live
in it), and any other name (``sp.csr_array``, ``sp.vstack``...) imports scipy.sparse on
first use.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["issparse"]


def issparse(x: Any) -> bool:
    """``scipy.sparse.issparse(x)``, without importing scipy.sparse when it is not loaded."""
    m = sys.modules.get("scipy.sparse")
    return m is not None and bool(m.issparse(x))


def __getattr__(name: str) -> Any:
    return getattr(importlib.import_module("scipy.sparse"), name)
