"""Doctest collection of the optional modules only where their extras are installed."""

from __future__ import annotations

import importlib.util

collect_ignore: list[str] = []
if importlib.util.find_spec("torch") is None:
    collect_ignore.append("sm_payloads/object2vec/torch.py")
if importlib.util.find_spec("dask") is None or importlib.util.find_spec("distributed") is None:
    collect_ignore.append("sm_payloads/dask.py")
if importlib.util.find_spec("hypothesis") is None:
    collect_ignore.append("sm_payloads/testing.py")
