"""The inference services the emulator knows (§7.1, §7.5): what each supports, which settings
it requires, and the ``GET _inference/_services`` catalogue built from them.

Section numbers (§) refer to ``/work/shared/spec/es-inference-wire.md``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

import attrs

__all__: list[str] = []  # private module


# TaskType enum order (EnumSet iteration order in ES's JSON).
_TASK_ORDER: Final = (
    "text_embedding", "sparse_embedding", "rerank", "completion", "chat_completion", "embedding",
)  # fmt: skip


@attrs.frozen(kw_only=True)
class _Service:
    """One inference service: what it supports and which settings it requires.

    Approximations of ES 9.x's services, enough to answer PUT and GET _services
    deterministically; unknown settings inside service_settings are not checked.
    """

    service: str
    name: str
    task_types: tuple[str, ...]
    streaming: tuple[str, ...]
    required: tuple[str, ...] = ()  # service_settings keys, in the order ES checks them
    secrets: tuple[str, ...] = ()  # secret_settings keys (stripped from responses)
    rate_limits: Mapping[str, int] = attrs.field(factory=dict)  # default requests_per_minute
    provider_url: str | None = None  # named in OpenAI-style 404 messages


def _setting(
    label: str,
    description: str,
    tasks: Sequence[str],
    *,
    required: bool = False,
    sensitive: bool = False,
    updatable: bool = False,
    kind: str = "str",
    default: Any = None,
) -> dict[str, Any]:
    """SettingsConfiguration.toXContent, in its key order."""
    entry: dict[str, Any] = {}
    if default is not None:
        entry["default_value"] = default
    entry["description"] = description
    entry["label"] = label
    entry["required"] = required
    entry["sensitive"] = sensitive
    entry["updatable"] = updatable
    entry["type"] = kind
    entry["supported_task_types"] = [t for t in _TASK_ORDER if t in tasks]
    return entry


_SECRET_KEYS: Final = frozenset({"api_key", "access_key", "secret_key", "service_account_json"})

_SERVICES: Final = {
    s.service: s
    for s in (
        _Service(
            service="cohere",
            name="Cohere",
            task_types=("text_embedding", "rerank", "completion", "chat_completion"),
            streaming=("completion", "chat_completion"),
            secrets=("api_key",),
            rate_limits={
                "text_embedding": 10000,
                "rerank": 10000,
                "completion": 10000,
                "chat_completion": 10000,
            },
        ),
        _Service(
            service="elastic",
            name="Elastic",
            task_types=("text_embedding", "sparse_embedding", "rerank", "chat_completion"),
            streaming=("chat_completion",),
            required=("model_id",),
        ),
        _Service(
            service="elasticsearch",
            name="Elasticsearch",
            task_types=("text_embedding", "sparse_embedding", "rerank"),
            streaming=(),
            required=("model_id", "num_threads"),
        ),
        _Service(
            service="emulator",
            name="Emulator",
            task_types=_TASK_ORDER,
            streaming=("completion", "chat_completion"),
        ),
        _Service(
            service="hugging_face",
            name="Hugging Face",
            task_types=(
                "text_embedding",
                "sparse_embedding",
                "rerank",
                "completion",
                "chat_completion",
            ),
            streaming=("completion", "chat_completion"),
            required=("url",),
            secrets=("api_key",),
            rate_limits=dict.fromkeys(
                ("text_embedding", "sparse_embedding", "rerank", "completion", "chat_completion"),
                3000,
            ),
        ),
        _Service(
            service="openai",
            name="OpenAI",
            task_types=("text_embedding", "completion", "chat_completion"),
            streaming=("completion", "chat_completion"),
            required=("model_id",),
            secrets=("api_key",),
            rate_limits={"text_embedding": 3000, "completion": 500, "chat_completion": 500},
            provider_url="https://api.openai.com/v1/chat/completions",
        ),
    )
}

# Services added with add_endpoint under a name the emulator does not know behave like this.
_GENERIC_SERVICE: Final = _SERVICES["emulator"]


def _service_configurations(service: _Service, known: Collection[str]) -> dict[str, Any]:
    """The ``configurations`` object of GET _inference/_services for ``service``."""
    tasks = [t for t in service.task_types if t in known]
    config: dict[str, Any] = {}
    if "api_key" in service.secrets:
        config["api_key"] = _setting(
            "API Key",
            f"API Key for the {service.name} service.",
            tasks,
            required=True,
            sensitive=True,
            updatable=True,
        )
    if "model_id" in service.required or service.service in ("cohere", "emulator"):
        config["model_id"] = _setting(
            "Model ID",
            "The name of the model to use for the inference task.",
            tasks,
            required="model_id" in service.required,
        )
    if "url" in service.required:
        config["url"] = _setting(
            "URL", "The URL endpoint to use for the requests.", tasks, required=True
        )
    if "num_threads" in service.required:
        config["num_threads"] = _setting(
            "Number Threads",
            "Sets the number of threads used by each model allocation.",
            tasks,
            required=True,
            kind="int",
            default=2,
        )
        config["num_allocations"] = _setting(
            "Number Allocations",
            "The total number of allocations this model is assigned.",
            tasks,
            updatable=True,
            kind="int",
            default=1,
        )
    embedding_tasks = [t for t in tasks if t == "text_embedding"]
    if embedding_tasks and service.service in ("openai", "emulator"):
        config["dimensions"] = _setting(
            "Dimensions",
            "The number of dimensions the resulting embeddings should have.",
            embedding_tasks,
            kind="int",
        )
    if service.rate_limits:
        config["rate_limit.requests_per_minute"] = _setting(
            "Rate Limit",
            "Minimize the number of rate limit errors.",
            tasks,
            kind="int",
        )
    return dict(sorted(config.items()))


def _services_catalogue(task_type: str, known: Collection[str]) -> list[dict[str, Any]]:
    """GET _inference/_services[/{task_type}]: sorted by service name (§7.5).

    ``known``: the release's task types; the others are left out.
    """
    result = []
    for key in sorted(_SERVICES):
        service = _SERVICES[key]
        if task_type != "any" and task_type not in service.task_types:
            continue
        result.append(
            {
                "service": service.service,
                "name": service.name,
                "task_types": [t for t in _TASK_ORDER if t in service.task_types and t in known],
                "configurations": _service_configurations(service, known),
            }
        )
    return result
