"""asyncinfer.notebook.show() with real IPython objects; docs/notebook.ipynb run in a kernel."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import orjson
import pytest
from IPython.display import Markdown

import asyncinfer
import asyncinfer.notebook
from asyncinfer.testing import ElasticsearchEmulator, Fault

ROOT = Path(__file__).parent.parent
NOTEBOOK = ROOT / "docs" / "notebook.ipynb"


class Recorder:
    """A display function that records what IPython's display handle would show."""

    def __init__(self) -> None:
        self.shown: list[Markdown] = []
        self.calls: list[dict[str, Any]] = []

    def __call__(self, obj: Markdown, **kwargs: Any) -> Recorder:
        self.calls.append(kwargs)
        self.shown.append(obj)
        return self

    def update(self, obj: Markdown) -> None:
        self.shown.append(obj)

    @property
    def texts(self) -> list[str]:
        return [m.data for m in self.shown]


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.01)


async def test_show_renders_markdown_updates_in_one_output(
    client: asyncinfer.InferenceClient, es: ElasticsearchEmulator
) -> None:
    es.add_fault(Fault(event_delay=0.01))
    recorder = Recorder()
    stream = client.stream_completion("my-endpoint", "What is Elastic?")
    text = await asyncinfer.notebook.show(stream, display=recorder, min_interval=0)
    expected = "".join(es.answer_for("my-endpoint", "What is Elastic?"))
    assert text == expected
    assert recorder.calls == [{"display_id": True}]  # one output, then updates
    assert all(isinstance(m, Markdown) for m in recorder.shown)
    texts = recorder.texts
    assert texts[0] == ""
    assert texts[-1] == expected
    assert len(texts) > 5  # live: one update per event here
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert len(set(texts)) == len(texts)  # never the same text twice
    assert stream.state is asyncinfer.StreamState.DONE


async def test_show_is_throttled_but_ends_with_everything(
    client: asyncinfer.InferenceClient, es: ElasticsearchEmulator
) -> None:
    es.add_endpoint("long", answer_tokens=400, deltas_per_event=1)
    es.add_fault(Fault(event_delay=0.002), inference_id="long")
    recorder = Recorder()
    text = await asyncinfer.notebook.show(
        client.stream_completion("long", "Tell me a long story"), display=recorder
    )
    assert text == "".join(es.answer_for("long", "Tell me a long story"))
    # ~400 events over about a second: far fewer renders than events, the last one complete.
    assert 3 < len(recorder.shown) < 100
    assert recorder.texts[-1] == text


async def test_show_renders_a_pause_without_waiting_for_the_next_token(
    client: asyncinfer.InferenceClient, es: ElasticsearchEmulator
) -> None:
    # Events close together, then silence: what came too soon to render is rendered by a
    # timer once the interval has passed, not when (if ever) the next token arrives.
    es.add_fault(Fault(event_delay=0.05, stall_after=4))
    recorder = Recorder()
    stream = client.stream_completion("my-endpoint", "Hello")
    task = asyncio.create_task(asyncinfer.notebook.show(stream, display=recorder, min_interval=0.5))
    # Events carry 0 (the first), 1, 2 and 3 tokens.
    await eventually(lambda: len(stream.tokens) == 6 and recorder.texts[-1] == stream.text)
    assert len(recorder.shown) == 3  # the empty output, the first token, then the timer's
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_show_accepts_a_chat_stream(
    client: asyncinfer.InferenceClient, es: ElasticsearchEmulator
) -> None:
    es.add_endpoint("chat", "chat_completion")
    messages = [{"role": "user", "content": "Hello!"}]
    recorder = Recorder()
    stream = client.stream_chat_completion("chat", messages)
    text = await asyncinfer.notebook.show(stream, display=recorder)
    assert text == "".join(es.chat_answer_for("chat", messages))
    assert recorder.texts[-1] == text
    assert stream.state is asyncinfer.StreamState.DONE


async def test_show_renders_what_arrived_then_raises_and_closes(
    client: asyncinfer.InferenceClient, es: ElasticsearchEmulator
) -> None:
    es.add_fault(Fault(error_after=4, error_status=429, reason="rate limited upstream"))
    recorder = Recorder()
    stream = client.stream_completion("my-endpoint", "Hello")
    with pytest.raises(asyncinfer.StreamApiError) as caught:
        await asyncinfer.notebook.show(stream, display=recorder, min_interval=10)
    assert caught.value.partial_text == stream.text != ""
    assert recorder.texts[-1] == stream.text
    assert stream.state is asyncinfer.StreamState.FAILED
    await es.requests[-1].wait_closed()


async def test_show_closes_an_entered_stream_on_cancellation(
    client: asyncinfer.InferenceClient, es: ElasticsearchEmulator
) -> None:
    es.add_fault(Fault(stall_after=3))
    recorder = Recorder()
    async with client.stream_completion("my-endpoint", "Hello") as stream:
        task = asyncio.create_task(asyncinfer.notebook.show(stream, display=recorder))
        await eventually(lambda: bool(stream.text))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert stream.state is asyncinfer.StreamState.CLOSED
    await es.requests[-1].wait_closed()
    assert es.requests[-1].disconnected_at is not None
    assert recorder.texts[-1] == stream.text


async def test_show_prints_outside_a_kernel(
    client: asyncinfer.InferenceClient,
    es: ElasticsearchEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = await asyncinfer.notebook.show(client.stream_completion("my-endpoint", "Hello"))
    assert text == "".join(es.answer_for("my-endpoint", "Hello"))
    assert capsys.readouterr().out == text + "\n"


async def test_show_names_the_extra_when_ipython_is_missing(
    client: asyncinfer.InferenceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("IPython", "IPython.display", "IPython.core.interactiveshell"):
        monkeypatch.setitem(sys.modules, name, None)
    stream = client.stream_completion("my-endpoint", "Hello")
    with pytest.raises(ImportError, match=re.escape("pip install 'asyncinfer[notebook]'")):
        await asyncinfer.notebook.show(stream)
    assert stream.state is asyncinfer.StreamState.NEW  # nothing was sent


async def test_show_rejects_a_negative_interval(client: asyncinfer.InferenceClient) -> None:
    with pytest.raises(ValueError, match="min_interval"):
        await asyncinfer.notebook.show(
            client.stream_completion("my-endpoint", "Hello"), min_interval=-1
        )


def test_the_module_is_documented() -> None:
    assert asyncinfer.notebook.__all__ == ["show"]
    assert asyncinfer.notebook.__doc__
    assert asyncinfer.notebook.show.__doc__


# --- the example notebook, executed in a real kernel ---------------------------------------


# nbclient runs in its own process: jupyter_client leaves zmq sockets for the garbage
# collector, which pytest (filterwarnings = error) would report as this test's leak.
RUN_NOTEBOOK = """
import sys
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

source, kernels, target, cwd = sys.argv[1:]
nb = nbformat.read(source, as_version=4)
specs = KernelSpecManager(kernel_dirs=[kernels])
km = KernelManager(kernel_name="asyncinfer-test", kernel_spec_manager=specs)
NotebookClient(nb, km=km, timeout=60, resources={"metadata": {"path": cwd}}).execute()
nbformat.write(nb, target)
"""


def _kernel_dir(tmp_path: Path) -> Path:
    """A kernelspec for this interpreter (the venv's ipykernel), whatever exists elsewhere."""
    kernels = tmp_path / "kernels"
    (kernels / "asyncinfer-test").mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "asyncinfer test",
        "language": "python",
    }
    (kernels / "asyncinfer-test" / "kernel.json").write_bytes(orjson.dumps(spec))
    return kernels


def _outputs(nb: Any, cell_id: str) -> list[Any]:
    (cell,) = [c for c in nb.cells if c.get("id") == cell_id]
    return list(cell.outputs)


def _markdown(outputs: list[Any]) -> list[str]:
    return [
        o.data["text/markdown"]
        for o in outputs
        if o.output_type == "display_data" and "text/markdown" in o.data
    ]


def test_the_example_notebook_runs(tmp_path: Path) -> None:
    executed = tmp_path / "executed.ipynb"
    env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1"}  # jupyter_core warns without it
    proc = subprocess.run(
        [sys.executable, "-c", RUN_NOTEBOOK, NOTEBOOK, _kernel_dir(tmp_path), executed, tmp_path],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    nb = nbformat.read(executed, as_version=4)

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{cell.id}: {output.get('evalue')}"
            assert output.get("name") != "stderr", f"{cell.id}: {output.get('text')}"

    # The same endpoints as the notebook's: the emulator's model is deterministic.
    reference = ElasticsearchEmulator()
    reference.add_endpoint("my-endpoint", "completion")
    reference.add_endpoint("my-chat", "chat_completion")
    answer = "".join(reference.answer_for("my-endpoint", "What is Elastic?"))
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello!"},
    ]
    # Updates replaced the one output's content: it ends with the whole answer.
    assert _markdown(_outputs(nb, "show-completion")) == [answer]
    assert _markdown(_outputs(nb, "show-chat")) == [
        "".join(reference.chat_answer_for("my-chat", messages))
    ]
    (check,) = _outputs(nb, "check-completion")
    assert check.data["text/plain"] == "True"
    printed = "".join(o.text for o in _outputs(nb, "async-with") if o.output_type == "stream")
    assert printed.startswith("".join(reference.answer_for("my-endpoint", "Tell me more")))
    (lengths,) = _outputs(nb, "embedding")
    assert lengths.data["text/plain"] == "[8, 8]"


def test_the_docs_page_shows_the_notebook_cells() -> None:
    """Every ``ipython`` block of docs/notebooks.md is a cell of docs/notebook.ipynb, so
    running the notebook tests them."""
    page = (ROOT / "docs" / "notebooks.md").read_text()
    blocks = re.findall(r"^```ipython\n(.*?)^```", page, re.DOTALL | re.MULTILINE)
    sources = {cell.source.strip() for cell in nbformat.read(NOTEBOOK, as_version=4).cells}
    assert blocks
    for block in blocks:
        assert block.strip() in sources, block
