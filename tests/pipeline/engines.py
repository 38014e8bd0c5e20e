"""Drive a per-series engine over a list of items, as the dataflow's keyed step does, without Bytewax.

Why one helper: the detection and the forecast engines share the shape (``new_state`` from the first
item, then ``step`` per item), and their tests drove it with the same loop, written four times.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

S = TypeVar("S")
I_contra = TypeVar("I_contra", contravariant=True)
I = TypeVar("I")  # noqa: E741 - the item type, as in the protocol
O = TypeVar("O")  # noqa: E741 - what a step emits (invariant: it comes in a list)


class Engine(Protocol[S, I_contra, O]):
    def new_state(self, observation: I_contra) -> S: ...

    def step(self, state: S, observation: I_contra) -> tuple[S, list[O]]: ...


def drive(engine: Engine[S, I, O], items: list[I]) -> tuple[S, list[O]]:
    """The last state and everything the steps emitted, in order."""
    state = engine.new_state(items[0])
    out: list[O] = []
    for item in items:
        state, emitted = engine.step(state, item)
        out.extend(emitted)
    return state, out
