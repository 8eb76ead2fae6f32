"""Loading the optional C accelerators.

<!-- accelerators -->
Installing from source compiles six optional C extensions, beside the format modules they
serve, which read numbers with one exact converter (`formats/_cnumber.h`: correctly rounded
to float64 or directly to float32, any number of digits). `sm_payloads.formats._cparse`
reads CSV bodies and joins the CSV writer's rows; `sm_payloads.formats._cjson` reads JSON
and JSON Lines requests into columns; `sm_payloads.formats._cjsonrec` reads JSON and JSON
Lines responses into columns and writes per-record output dicts; `sm_payloads.formats._clibsvm`
reads libsvm blocks into CSR arrays; `sm_payloads.formats._crecordio` walks the records of
RecordIO-protobuf batches (sparse, ragged and uniform dense), gathering their values and
decoding their varints; `sm_payloads.formats._ccolumns` writes a table's feature columns
side by side into RecordIO-protobuf records. Each function has a numpy twin that gives the
same results, and the
tests compare the two. Without a C compiler the package installs without them and runs the
twins, slower; `SM_PAYLOADS_PURE_PYTHON=1` switches them off at run time.
<!-- /accelerators -->

`load` returns the compiled module, or None when it was not built
(no compiler at install time) or when ``SM_PAYLOADS_PURE_PYTHON=1`` is set, which forces the
pure paths (for debugging and for the suite's second pass). ``SM_PAYLOADS_REQUIRE_NATIVE=1``
turns a missing accelerator into an ImportError (CI sets it, so that a broken build cannot
pass silently on the pure paths).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["load", "pure_python"]


def pure_python() -> bool:
    """True when ``SM_PAYLOADS_PURE_PYTHON`` asks for the pure paths."""
    return os.environ.get("SM_PAYLOADS_PURE_PYTHON", "") not in ("", "0")


def load(name: str) -> ModuleType | None:
    """The compiled module ``sm_payloads.<name>`` (``"formats._cparse"``), or None (see the
    module docstring)."""
    if pure_python():
        return None
    try:
        return importlib.import_module(f"sm_payloads.{name}")
    except ImportError:
        if os.environ.get("SM_PAYLOADS_REQUIRE_NATIVE", "") not in ("", "0"):
            raise
        return None
