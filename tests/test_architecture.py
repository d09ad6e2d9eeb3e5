"""The layering rule: the sans-I/O modules never import asyncio, aiohttp or the clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import asyncinfer

PACKAGE = Path(asyncinfer.__file__).parent
# Bytes in, values out: no awaits, no sockets, no clock (docs/architecture.md, "Layers").
SANS_IO = ["sse.py", "_protocol.py", "_models.py", "_config.py", "_exceptions.py"]
SANS_IO += ["_chat_models.py", "_stream/_ledger.py"]
SANS_IO += ["_inputs.py", "_models_chat_completion.py", "_models_endpoints.py"]
SANS_IO += ["_protocol_endpoints.py"]
FORBIDDEN = {"asyncio", "aiohttp", "socket", "ssl", "time", "selectors", "threading"}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name.partition(".")[0] for name in names}


@pytest.mark.parametrize("module", SANS_IO)
def test_sans_io_modules_import_no_io(module: str) -> None:
    assert not imported_modules(PACKAGE / module) & FORBIDDEN


def test_the_rule_sees_an_io_import(tmp_path: Path) -> None:
    # The check itself can fail: an import of asyncio, plain or from, is found.
    sample = tmp_path / "sample.py"
    sample.write_text("import attrs\nfrom asyncio import sleep\nimport aiohttp.web\n")
    assert imported_modules(sample) & FORBIDDEN == {"asyncio", "aiohttp"}


def test_streams_reach_the_network_only_through_the_transport() -> None:
    users = {
        str(path.relative_to(PACKAGE))
        for path in (PACKAGE / "_stream").rglob("*.py")
        if "aiohttp" in imported_modules(path)
    }
    assert users == set()
