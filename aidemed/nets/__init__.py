from aidemed.nets import segmentation  # noqa: F401  (registers the networks)
from aidemed.nets import classification  # noqa: F401  (registers the classifiers)
from aidemed.nets.registry import create_model, get_entry, list_models, register_model

__all__ = ["create_model", "get_entry", "list_models", "register_model"]
