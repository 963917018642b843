"""Objects named by ``"module:QualName"`` strings: how saved configs name user classes."""
from __future__ import annotations

import importlib

__all__ = ["import_object", "IMPORT_ERRORS"]

#: What a failed lookup raises (caught by callers, who name what was looked up).
IMPORT_ERRORS = (ImportError, AttributeError, ValueError)


def import_object(path: str):
    """The object at ``"module:QualName"`` (``QualName`` may be dotted); one of :data:`IMPORT_ERRORS` otherwise.

    >>> import_object("collections:OrderedDict").__name__
    'OrderedDict'
    """
    module_name, _, qualname = path.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
