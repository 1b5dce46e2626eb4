"""What the trainer and the GUI agree on: progress events, a run folder's files, the loss terms,
and the trainer's defaults that the GUI's estimates rely on.

The GUI never imports the trainer: it starts the ``train`` command with ``--progress json`` and reads one
JSON object per line on standard output; the trainer appends the same lines to ``progress.jsonl``
in the run folder. A line is ``{"event": KIND, "time": SECONDS, FIELD: VALUE, ...}``: ``time``
(seconds since the epoch) is optional, and the fields are exactly those of the event class whose
``event`` is KIND. The trainer builds its events from these classes and :func:`parse_event` reads
them back, refusing anything else with :class:`ProtocolError`.

Light on purpose (no torch, no Qt): the GUI imports it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from functools import cache
from types import UnionType
from typing import Any, ClassVar, Union, get_args, get_origin, get_type_hints

# -- a run folder ------------------------------------------------------------------------------
BEST_CHECKPOINT = "best.safetensors"  # the weights with the best validation fMSE so far
LAST_CHECKPOINT = "last.safetensors"  # everything a resumed run needs
PROGRESS_LOG = "progress.jsonl"  # every event, one JSON line each
PREVIEWS = "previews"  # one picture per validation, named by preview_name
JSON_PROGRESS = "json"  # the --progress mode that writes these events on standard output


def preview_name(step: int) -> str:
    """The file name of the validation preview at ``step`` in ``PREVIEWS``."""
    return f"step_{step:06d}.png"


# -- the trainer's numbers the GUI relies on ---------------------------------------------------
LOSS_TERMS = ("total", "reconstruction", "harm", "self_style", "consistency", "kind")  # the keys of StepEvent.losses
VALIDATION_SHARE = 0.05  # photos held out for validation where a data folder has no split of its own
DEFAULT_WORKERS = 2  # data-loading worker processes (--workers)
DEFAULT_VAL_LIMIT = 200  # validation images used at most (--val-limit)


def held_out_count(count: int, share: float = VALIDATION_SHARE) -> int:
    """How many of ``count`` photos validation holds out: ``share`` of them, at least one of two
    or more, never all of them."""
    if count < 2 or share <= 0:
        return 0
    return min(max(int(round(count * share)), 1), count - 1)


# -- events ------------------------------------------------------------------------------------
class ProtocolError(ValueError):
    """A line that is not an event of this protocol: unknown kind, missing, extra or mistyped fields."""


@dataclass(frozen=True)
class StartEvent:
    """The run begins, or resumes at ``step``; ``data`` describes its sources, ``style_features``
    where the style network's weights come from."""

    event: ClassVar[str] = "start"
    step: int
    total_steps: int
    out: str
    device: str
    world_size: int
    train_images: int
    val_images: int
    data: tuple[str, ...]
    style_features: str


@dataclass(frozen=True)
class StepEvent:
    """Progress every ``--log-every`` steps: ``losses`` holds the ``LOSS_TERMS``."""

    event: ClassVar[str] = "step"
    step: int
    total_steps: int
    epoch: int
    losses: dict[str, float]
    lr: float
    images_per_s: float
    eta_s: float


@dataclass(frozen=True)
class ValidationEvent:
    """Scores (mse, psnr, fmse) of the model and of the unharmonized composites on the held-out
    images, a preview picture, and whether the model is the best so far."""

    event: ClassVar[str] = "validation"
    step: int
    epoch: int
    metrics: dict[str, float]
    composite: dict[str, float]
    preview: str
    best: bool


@dataclass(frozen=True)
class CheckpointEvent:
    """A checkpoint was written; ``kind`` is ``last`` or ``best``."""

    event: ClassVar[str] = "checkpoint"
    step: int
    kind: str
    path: str


@dataclass(frozen=True)
class DoneEvent:
    """The run ended: ``stopped`` early or not, its checkpoints (None: not written), the best
    validation ``metrics``, and whether every process ended with the same weights."""

    event: ClassVar[str] = "done"
    step: int
    stopped: bool
    best: str | None
    last: str | None
    metrics: dict[str, float]
    replicas_identical: bool


@dataclass(frozen=True)
class ErrorEvent:
    """The run cannot start or go on; ``message`` says why (and what survives)."""

    event: ClassVar[str] = "error"
    message: str


Event = StartEvent | StepEvent | ValidationEvent | CheckpointEvent | DoneEvent | ErrorEvent
EVENTS: dict[str, type[Event]] = {
    cls.event: cls for cls in (StartEvent, StepEvent, ValidationEvent, CheckpointEvent, DoneEvent, ErrorEvent)
}
_ENVELOPE = {"event", "time"}


def event_record(event: Event, time: float | None = None) -> dict[str, Any]:
    """The JSON object a line carries: ``event``, ``time`` when given, then the event's fields."""
    record: dict[str, Any] = {"event": event.event}
    if time is not None:
        record["time"] = time
    record.update(asdict(event))
    return record


def event_line(event: Event, time: float | None = None) -> str:
    """One line of the protocol, without its newline."""
    return json.dumps(event_record(event, time))


def parse_event(record: Mapping[str, Any]) -> Event:
    """The typed event a decoded line carries.

    Raises:
        ProtocolError: the kind is unknown, or a field is missing, unexpected or of the wrong type.
    """
    kind = record.get("event")
    cls = EVENTS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown event {kind!r} (known: {', '.join(EVENTS)})")
    types = _field_types(cls)
    given = set(record) - _ENVELOPE
    missing, unexpected = sorted(set(types) - given), sorted(given - set(types))
    if missing or unexpected:
        problems = [f"{label}: {', '.join(names)}" for label, names in (("missing", missing), ("unexpected", unexpected))
                    if names]
        raise ProtocolError(f"{kind} event does not match the protocol; {'; '.join(problems)}")
    values = {}
    for name, hint in types.items():
        try:
            values[name] = _convert(record[name], hint)
        except TypeError as error:
            raise ProtocolError(f"{kind} event: {name} {error}") from error
    return cls(**values)


@cache
def _field_types(cls: type[Event]) -> dict[str, Any]:
    hints = get_type_hints(cls)
    return {field.name: hints[field.name] for field in fields(cls)}


def _convert(value: Any, hint: Any) -> Any:
    """``value``, as JSON gives it, as a value of type ``hint``; TypeError when it is not one."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):  # X | None
        if value is None and type(None) in args:
            return None
        (inner,) = (arg for arg in args if arg is not type(None))
        return _convert(value, inner)
    if origin is tuple and isinstance(value, (list, tuple)):  # tuple[X, ...]
        return tuple(_convert(item, args[0]) for item in value)
    if origin is dict and isinstance(value, dict):
        return {_convert(key, args[0]): _convert(item, args[1]) for key, item in value.items()}
    if origin is None and (hint is bool or not isinstance(value, bool)):  # JSON's true is no number
        if hint is float and isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, hint):
            return value
    raise TypeError(f"must be {getattr(hint, '__name__', hint)}, got {value!r}")
