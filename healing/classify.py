"""Issue classification: which known problem a trigger looks like, from its signature.

Why signatures and not a model: the set of issue classes is small and operators must be able to
read and change the rules; the first matching signature wins, in file order.
"""

from __future__ import annotations

import re

from forewarn.healing.config import Signature
from forewarn.healing.triggers import Trigger

UNKNOWN = "unknown"


def matches(signature: Signature, trigger: Trigger) -> bool:
    if signature.sources and trigger.source not in signature.sources:
        return False
    if signature.kinds and trigger.kind not in signature.kinds:
        return False
    if signature.services and trigger.service not in signature.services and "*" not in signature.services:
        return False
    if signature.series is not None and not re.search(signature.series, trigger.series or ""):
        return False
    if signature.reason is not None and not re.search(signature.reason, trigger.reason, re.IGNORECASE):
        return False
    return not signature.features_any or any(name in trigger.features for name in signature.features_any)


def classify(trigger: Trigger, signatures: list[Signature]) -> str:
    """The trigger's own ``issue_class`` if it has one, else the first matching signature's."""
    if trigger.issue_class:
        return trigger.issue_class
    for signature in signatures:
        if matches(signature, trigger):
            return signature.issue_class
    return UNKNOWN


__all__ = ["UNKNOWN", "classify", "matches"]
