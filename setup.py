"""Build script for the optional C accelerators (everything else is in pyproject.toml).

Each extension is optional: where no C compiler is available the build warns and goes on,
and sm_payloads runs its pure-Python/numpy paths, with the same results (see
docs/performance.md). Set SM_PAYLOADS_REQUIRE_NATIVE=1 at import time to make a missing
accelerator an error instead (CI does).
"""

from setuptools import Extension, setup

_FLAGS = ["-O3", "-std=c99", "-fno-strict-aliasing"]

setup(
    ext_modules=[
        Extension("sm_payloads._cparse", ["sm_payloads/_cparse.c"], extra_compile_args=_FLAGS, optional=True),
        Extension(
            "sm_payloads._crecordio", ["sm_payloads/_crecordio.c"], extra_compile_args=_FLAGS, optional=True
        ),
    ]
)
