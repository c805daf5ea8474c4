from aidemed.methods import aide, semi, supervised  # noqa: F401  (registers the methods)
from aidemed.methods import coteaching  # noqa: F401  (coteaching, source_only)
from aidemed.methods.base import Method, StepContext, TrainData
from aidemed.methods.registry import get_method, list_methods, register_method

__all__ = ["Method", "StepContext", "TrainData", "get_method", "list_methods", "register_method"]
