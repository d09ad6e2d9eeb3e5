"""Test helpers: an Elasticsearch emulator that speaks the Inference API's exact bytes.

:class:`ElasticsearchEmulator` is an aiohttp.web server on loopback that answers like
Elasticsearch 9.x, for every Inference API endpoint: endpoint management (PUT, GET, update,
DELETE, the service catalogue), non-streaming inference (completion, embeddings, sparse
embeddings, rerank) and streaming (completion deltas and OpenAI-like chat chunks, tool calls
included). SSE streams carry a BOM before every event and end with ``[DONE]``; errors have ES's
bodies and statuses; a deterministic model gives answers tests can predict
(:meth:`ElasticsearchEmulator.answer_for`, :meth:`~ElasticsearchEmulator.chat_answer_for`,
:meth:`~ElasticsearchEmulator.embedding_for`). :class:`Fault` scripts failures (errors before or
during a stream, stalls, dropped connections, odd chunking); :class:`RecordedRequest` is what
the emulator saw and did for each request.

Installing asyncinfer also registers a pytest plugin with an ``es_emulator`` fixture: an
emulator running in its own thread, with a ``completion`` endpoint named ``my-endpoint``.
"""

from ._emulator import ElasticsearchEmulator as ElasticsearchEmulator
from ._emulator import Fault as Fault
from ._emulator import RecordedRequest as RecordedRequest

__all__ = ["ElasticsearchEmulator", "Fault", "RecordedRequest"]
