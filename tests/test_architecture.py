"""The package's layers (docs/architecture.md), enforced on the source.

Every import inside sm_payloads, at module level or inside a function (``TYPE_CHECKING``
blocks excepted: they never run), goes from a module to one in a lower layer, or to an
allowed peer in its own layer; there are no import cycles; and no module uses another public
module's underscore names (a private module's public names are the package's internal API).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import ROOT

PACKAGE = ROOT / "sm_payloads"

#: Layer of each module, bottom up (docs/architecture.md). A name ending in ".*" covers a
#: package's modules.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "core",
        [
            "sm_payloads.errors",
            "sm_payloads.mime",
            "sm_payloads._native",
            "sm_payloads._buffers",
            "sm_payloads._gcpause",
            "sm_payloads._sparse",
            "sm_payloads._proto.*",
            "sm_payloads.record",
            "sm_payloads.columns",
            "sm_payloads.arrays",
            "sm_payloads.arrow",
            "sm_payloads.codec",
            "sm_payloads.limits",
        ],
    ),
    ("wire", ["sm_payloads.recordio", "sm_payloads.batch", "sm_payloads.formats._*"]),
    (
        "formats",
        [
            "sm_payloads.formats",
            "sm_payloads.formats.csv",
            "sm_payloads.formats.json",
            "sm_payloads.formats.jsonlines",
            "sm_payloads.formats.libsvm",
            "sm_payloads.formats.npy",
            "sm_payloads.formats.recordio_protobuf",
        ],
    ),
    ("registry", ["sm_payloads.registry"]),
    ("schemas", ["sm_payloads.algorithms", "sm_payloads.autopilot", "sm_payloads.object2vec"]),
    ("api", ["sm_payloads.api"]),
    (
        "integrations",
        [
            "sm_payloads",
            "sm_payloads.__main__",
            "sm_payloads.cli",
            "sm_payloads.dask",
            "sm_payloads.sdk",
            "sm_payloads.sdk.v3",
            "sm_payloads.sdk._translator",
            "sm_payloads.serving",
            "sm_payloads.server",
            "sm_payloads.testing",
            "sm_payloads.object2vec.torch",
        ],
    ),
]

#: Imports within one layer that the design allows (importer, imported).
PEERS = {
    ("sm_payloads.record", "sm_payloads.errors"),
    ("sm_payloads.mime", "sm_payloads.errors"),
    ("sm_payloads.codec", "sm_payloads.errors"),
    ("sm_payloads.codec", "sm_payloads.record"),
    ("sm_payloads.columns", "sm_payloads.errors"),
    ("sm_payloads.columns", "sm_payloads.record"),
    ("sm_payloads.arrays", "sm_payloads.errors"),
    ("sm_payloads.arrays", "sm_payloads.record"),
    ("sm_payloads.arrays", "sm_payloads.columns"),
    ("sm_payloads.arrays", "sm_payloads.arrow"),
    ("sm_payloads.arrow", "sm_payloads.errors"),
    ("sm_payloads.arrow", "sm_payloads.columns"),
    ("sm_payloads.arrow", "sm_payloads.record"),
    ("sm_payloads.limits", "sm_payloads.errors"),
    ("sm_payloads.limits", "sm_payloads.codec"),
    ("sm_payloads.limits", "sm_payloads.record"),
    ("sm_payloads.limits", "sm_payloads.columns"),
    ("sm_payloads.record", "sm_payloads.columns"),
    ("sm_payloads.object2vec", "sm_payloads.algorithms"),
    ("sm_payloads.autopilot", "sm_payloads.algorithms"),
    # the SDK v3 drop-ins load their CustomPayloadTranslator (sagemaker-serve) on first use
    ("sm_payloads.sdk.v3", "sm_payloads.sdk._translator"),
}
#: Peers among the integrations: any of them may import these (they sit at the integration
#: layer's bottom); the facade (sm_payloads/__init__), __main__ and the CLI may import all.
INTEGRATION_BASE = {"sm_payloads.serving", "sm_payloads.sdk"}


def layer_of(module: str) -> int:
    for i, (_, names) in enumerate(LAYERS):
        for name in names:
            if name == module or (name.endswith("*") and (module + ".").startswith(name[:-1])):
                return i
    raise AssertionError(f"{module} has no layer in tests/test_architecture.py (docs/architecture.md)")


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _walk(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, without descending into ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(c for c in ast.iter_child_nodes(node) if not _type_checking(c))


def imports(module: str, path: Path, known: set[str]) -> Iterator[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import in `module`."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sm_payloads"):
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("sm_payloads"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:  # "from . import algorithms": the module itself
                    yield sub, None, node.lineno
                else:
                    yield target, alias.name, node.lineno


MODULES = modules()
GRAPH = {m: list(imports(m, p, set(MODULES))) for m, p in MODULES.items()}


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if not _has_layer(m)] == []


def _has_layer(module: str) -> bool:
    try:
        layer_of(module)
    except AssertionError:
        return False
    return True


def _allowed(importer: str, imported: str) -> bool:
    if imported == importer:
        return True
    a, b = layer_of(importer), layer_of(imported)
    if b < a:
        return True
    if b > a:
        return False
    if (importer, imported) in PEERS:
        return True
    if LAYERS[a][0] == "integrations":
        return imported in INTEGRATION_BASE or importer in (
            "sm_payloads",
            "sm_payloads.__main__",
            "sm_payloads.cli",
        )
    # the wire helpers build on each other (no cycles: see below)
    return LAYERS[a][0] == "wire"


def test_imports_go_down_the_layers() -> None:
    wrong = [
        f"{m}:{line} imports {target} ({LAYERS[layer_of(m)][0]} -> {LAYERS[layer_of(target)][0]})"
        for m, edges in GRAPH.items()
        for target, _, line in edges
        if _has_layer(m) and _has_layer(target) and not _allowed(m, target)
    ]
    assert wrong == []


def test_no_import_cycles() -> None:
    edges = {m: {t for t, _, _ in GRAPH[m] if t in MODULES and t != m} for m in MODULES}
    # A package's __init__ is imported by its submodules implicitly; only explicit edges count.
    seen: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, path: list[str]) -> None:
        seen[m] = 1
        for t in sorted(edges[m]):
            if seen.get(t) == 1:
                cycles.append([*path[path.index(t) :], t] if t in path else [m, t])
            elif t not in seen:
                visit(t, [*path, t])
        seen[m] = 2

    for m in sorted(MODULES):
        if m not in seen:
            visit(m, [m])
    assert cycles == []


def _public(module: str) -> bool:
    return not any(part.startswith("_") for part in module.split("."))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_names_of_other_public_modules(module: str) -> None:
    """``from .record import _column_kind`` or ``_csv._tokenize`` across modules: use named API."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}
    wrong = []
    for target, name, line in GRAPH[module]:
        private = name is not None and name.startswith("_") and not name.startswith("__")
        if private and target != module and _public(target):
            wrong.append(f"line {line}: {target}.{name}")
    for node in _walk(tree):
        if (isinstance(node, ast.ImportFrom) and node.module is not None) or isinstance(node, ast.ImportFrom):
            for alias in node.names:
                aliases[alias.asname or alias.name] = alias.name
    known = {name.rpartition(".")[2]: name for name in MODULES}
    for node in _walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            full = known.get(aliases.get(node.value.id, ""))
            if full is not None and full != module and _public(full):
                wrong.append(f"line {node.lineno}: {full}.{node.attr}")
    assert wrong == []


def test_scipy_sparse_is_imported_on_first_use() -> None:
    """Importing the package (the CLI and the server too) and reading dense bodies leaves
    scipy.sparse unimported (about 90 ms of CPU at start-up); a sparse body imports it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import sm_payloads as smp, sm_payloads.cli, sm_payloads.serving, sm_payloads.server\n"
        "rows = smp.decode_request(b'1,2\\n3,4\\n', 'text/csv')\n"
        "for ct in ('text/csv', 'application/json', 'application/jsonlines',\n"
        "           'application/x-recordio-protobuf'):\n"
        "    b = smp.decode_request(smp.encode_request(rows, ct), ct)\n"
        "    assert b.features['values'].tolist() == [[1.0, 2.0], [3.0, 4.0]]\n"
        "print('scipy.sparse' in sys.modules)\n"
        "b = smp.decode_request(b'1 1:2\\n', 'text/libsvm')\n"
        "print('scipy.sparse' in sys.modules, type(b.features['values']).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "False\nTrue csr_array\n"


def test_issparse_without_importing_scipy() -> None:
    import numpy as np
    import scipy.sparse

    from sm_payloads import _sparse

    assert _sparse.issparse(scipy.sparse.csr_array(np.eye(2))) is True
    assert _sparse.issparse(scipy.sparse.coo_matrix(np.eye(2))) is True
    assert _sparse.issparse(np.eye(2)) is False
    assert _sparse.csr_array is scipy.sparse.csr_array
