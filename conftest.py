"""Doctest collection of the optional modules only where their extras are installed."""

from __future__ import annotations

import importlib.metadata
import importlib.util

collect_ignore: list[str] = []
if importlib.util.find_spec("torch") is None:
    collect_ignore.append("sm_payloads/object2vec/torch.py")
if importlib.util.find_spec("dask") is None or importlib.util.find_spec("distributed") is None:
    collect_ignore.append("sm_payloads/dask.py")
if importlib.util.find_spec("hypothesis") is None:
    collect_ignore.append("sm_payloads/testing.py")
try:  # the SageMaker SDK v3 (sagemaker-core 2+; the SDK v2 brings sagemaker-core 1)
    _sagemaker_core = int(importlib.metadata.version("sagemaker-core").split(".")[0])
except (importlib.metadata.PackageNotFoundError, ValueError):
    _sagemaker_core = 0
if _sagemaker_core < 2:
    collect_ignore += ["sm_payloads/sdk/v3.py", "sm_payloads/sdk/_translator.py"]
