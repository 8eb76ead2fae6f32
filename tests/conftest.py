"""Shared test configuration: hypothesis profiles and the SDK's noise switched off."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

settings.register_profile(
    "ci",
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
