"""Default recovery stores in the cache: where they live, and removing the ones no run still writes.

Why pruning: a default store is named for the Kafka cluster's id, the input topics and the scale-out
(``runner.recovery_directory``), so every new cluster (the demo formats one per run), topic set or
worker count starts a new store and the old one is never opened again: without pruning the cache
grows by a store per change, forever. A store no run has written for ``max_age`` is removed when a
dataflow starts. A running dataflow writes its store at every snapshot (each second by default), so
only stopped ones age. The default age, 7 days, is Kafka's default log retention: by then the input
offsets a store names have been deleted from the topics, so resuming from it would re-read nothing
it saved. Only directories named as the default stores are named (16 hex digits) are touched, never a
``--recovery-dir``.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from forewarn.settings import cache_dir

__all__ = ["default_store_root", "last_written", "prune_stale_stores"]

log = logging.getLogger(__name__)
_STORE_NAME = re.compile(r"[0-9a-f]{16}")


def default_store_root() -> Path:
    """The directory the default stores are made in (one subdirectory each)."""
    return cache_dir() / "recovery"


def last_written(store: Path) -> float:
    """The newest modification time of the store or anything in it (epoch seconds)."""
    newest = store.stat().st_mtime
    for path in store.rglob("*"):
        try:
            newest = max(newest, path.stat().st_mtime)
        except FileNotFoundError:  # a file the running dataflow replaced meanwhile
            continue
    return newest


def prune_stale_stores(root: Path, keep: Path | None, max_age_seconds: float, now: float) -> list[Path]:
    """Remove the default stores under ``root`` not written for ``max_age_seconds``; the removed ones.

    ``keep`` (the store this run uses) is never removed, whatever its age; ``max_age_seconds`` <= 0
    removes nothing. A store that cannot be removed is logged and left.
    """
    if max_age_seconds <= 0 or not root.is_dir():
        return []
    kept = keep.resolve() if keep is not None else None
    removed: list[Path] = []
    for store in sorted(root.iterdir()):
        if not store.is_dir() or not _STORE_NAME.fullmatch(store.name) or store.resolve() == kept:
            continue
        try:
            if now - last_written(store) <= max_age_seconds:
                continue
            shutil.rmtree(store)
        except FileNotFoundError:  # another process of this run (a shard) removed it first
            continue
        except OSError as error:
            log.warning("could not remove the stale recovery store %s: %s", store, error)
            continue
        removed.append(store)
    return removed
