"""The root of every error kes reports to a person.

Messages name the object and the field at fault and never carry a secret value:
they end up in logs, Kubernetes status and Events.
"""


class KesError(Exception):
    """An error kes explains to its user rather than a bug."""


class ObjectFieldError(KesError):
    """A fault in one field of one Kubernetes object.

    Reads as ``ExternalSecret ns/name: spec.data[2].key: <message>`` so a person can
    find the line to fix; ``field`` uses Kubernetes field-path notation.
    """

    kind = "object"

    def __init__(self, object_ref: str, field: str, message: str) -> None:
        super().__init__(f"{self.kind} {object_ref}: {field}: {message}")
        self.object_ref = object_ref
        self.field = field
        self.message = message


MAX_MESSAGE_CHARS = 1024
"""Longest error message kes writes anywhere: a message lands in a status, an Event
and a log line, and a tenant's 300 KB key name must not make them 300 KB."""


def bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text`, cut to `limit` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    note = f"... ({len(text) - limit} more characters)"
    return text[: max(limit - len(note), 0)] + note
