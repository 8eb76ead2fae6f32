"""Build script for the optional C accelerators (everything else is in pyproject.toml).

Each extension is optional: where no C compiler is available the build warns and goes on,
and sm_payloads runs its pure-Python/numpy paths, with the same results (see
docs/performance.md). Set SM_PAYLOADS_REQUIRE_NATIVE=1 at import time to make a missing
accelerator an error instead (CI does).
"""

from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

#: Flags per compiler family: GCC and Clang take these; MSVC its own (it would only warn
#: about the others, but its warnings should mean something).
_FLAGS = {"msvc": ["/O2"], "unix": ["-O3", "-std=c99", "-fno-strict-aliasing"]}


class _BuildExt(build_ext):
    def build_extensions(self) -> None:
        flags = _FLAGS.get(self.compiler.compiler_type, [])
        for ext in self.extensions:
            ext.extra_compile_args = [*flags, *ext.extra_compile_args]
        super().build_extensions()


def _ext(name: str) -> Any:
    """A C kernel, beside the format modules it serves."""
    return Extension(
        f"sm_payloads.formats.{name}",
        [f"sm_payloads/formats/{name}.c"],
        depends=["sm_payloads/formats/_cnumber.h"],
        optional=True,
    )


setup(
    ext_modules=[
        _ext("_cparse"),
        _ext("_crecordio"),
        _ext("_clibsvm"),
        _ext("_cjsonrec"),
        _ext("_cjson"),
        _ext("_ccolumns"),
    ],
    cmdclass={"build_ext": _BuildExt},
)
