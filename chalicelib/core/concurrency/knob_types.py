"""Whether a tier-plan knob's value fits its field: the check behind ``spillway tier plan --set``
and ``--file`` (a knob typed ``abc`` for ``pool_size`` is refused naming the knob, never a
TypeError deep in the plan). Pure: annotations are read as strings."""

from __future__ import annotations

from typing import Any


def type_error(key: str, value: Any, annotation: str) -> str | None:
    """Why ``value`` cannot be knob ``key`` of type ``annotation`` (a field's annotation string,
    e.g. ``"int | None"``, ``"dict[str, int]"``), or None if it can. bool is not a number."""
    if annotation.endswith("| None"):
        if value is None:
            return None
        annotation = annotation.removesuffix("| None").strip()
    if annotation.startswith("dict["):
        if not isinstance(value, dict):
            return f"{key} must be a JSON object, got {value!r}"
        inner = annotation[len("dict["):-1].split(",", 1)[1].strip()
        for name, item in value.items():
            reason = type_error(f"{key}[{name!r}]", item, inner)
            if reason:
                return reason
        return None
    kinds = {"int": ((int,), "an integer"), "float": ((int, float), "a number"),
             "bool": ((bool,), "true or false"), "str": ((str,), "a string")}
    if annotation not in kinds:  # Any, or a type this check does not know
        return None
    types, wanted = kinds[annotation]
    if isinstance(value, bool) and annotation != "bool" or not isinstance(value, types):
        return f"{key} must be {wanted}, got {value!r}"
    return None
