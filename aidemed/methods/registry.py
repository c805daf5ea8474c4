"""Training methods chosen by name, like nnU-Net's trainer variants: one registered class each."""

from __future__ import annotations

_METHODS: dict[str, type] = {}


def register_method(name: str):
    def decorator(cls):
        if name in _METHODS:
            raise ValueError(f"method {name!r} is registered twice")
        cls.name = name
        _METHODS[name] = cls
        return cls

    return decorator


def list_methods() -> list[str]:
    return sorted(_METHODS)


def get_method(name: str) -> type:
    if name not in _METHODS:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(list_methods())}")
    return _METHODS[name]
