"""The first snapshot format's writer (version 1), kept verbatim so the reader's support stays tested.

Why: stores written before ``cad_state`` version 2 must still restore after an upgrade; this is the
``_pack`` that wrote them (fixed-width columns, neuron facts as ``-1 - id``, zlib level 9).
"""

from __future__ import annotations

import array
import zlib
from typing import Any

NEURON = 1 << 31


def pack_v1(memory: Any) -> bytes:
    n = len(memory)
    columns: list[array.array[int]] = [
        array.array("B", (len(f) for f in memory.left_facts)),
        array.array("i", (f if f < NEURON else NEURON - 1 - f for fs in memory.left_facts for f in fs)),
        array.array("B", (len(f) for f in memory.right_facts)),
        array.array("i", (f for fs in memory.right_facts for f in fs)),
        array.array("i", memory.ctx_left),
        array.array("i", memory.ctx_right),
        array.array("q", memory.ctx_count),
        array.array("B", (int(z) for z in memory.ctx_zero)),
        array.array("q", (memory.clock - last for last in memory.ctx_last)),
        array.array("i", (f if f < NEURON else NEURON - 1 - f for f in memory.prev)),
    ]
    header = array.array(
        "q",
        (1, memory.max_left_facts, memory.max_active, memory.clock, n, *(len(c) for c in columns)),
    )
    return zlib.compress(header.tobytes() + b"".join(c.tobytes() for c in columns), 9)
