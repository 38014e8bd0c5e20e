"""The service dependency map: root causes first, dependents held back, no two related heals at once.

Why: when the database goes down, auth and payments fail too. Restarting auth while the database
heals wastes a restart budget and can make the cascade worse (a thundering herd of reconnects), so
the executor suppresses dependents while a root cause heals, and orders work root-first, then by
business impact (cost per minute of downtime).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from forewarn.healing.config import ServiceConfig
from forewarn.settings import musobuddy_dependencies


class DependencyMap:
    """``dependencies``: settings ``dependencies:`` (service -> what it depends on); costs from the YAML."""

    def __init__(
        self,
        services: Mapping[str, ServiceConfig],
        dependencies: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        deps = musobuddy_dependencies() if dependencies is None else dependencies
        self.edges = {service: list(up) for service, up in deps.items()}
        self.costs = {name: conf.cost_per_minute for name, conf in services.items()}
        named = {d for up in self.edges.values() for d in up}
        self.services = sorted(set(self.edges) | named | set(services))

    def depends_on(self, service: str) -> list[str]:
        return list(self.edges.get(service, []))

    def ancestors(self, service: str) -> set[str]:
        """Everything ``service`` depends on, directly or not (its possible root causes)."""
        seen: set[str] = set()
        stack = self.depends_on(service)
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self.depends_on(node))
        return seen

    def descendants(self, service: str) -> set[str]:
        """Everything that depends on ``service``, directly or not."""
        return {name for name in self.services if service in self.ancestors(name)}

    def related(self, a: str, b: str) -> bool:
        """True if one depends on the other (healing both at once risks a cascade)."""
        return a == b or a in self.ancestors(b) or b in self.ancestors(a)

    def depth(self, service: str) -> int:
        """0 for a service with no dependencies; roots sort first."""
        deps = self.depends_on(service)
        return 0 if not deps else 1 + max(self.depth(d) for d in deps)

    def cost_per_minute(self, service: str) -> float:
        return self.costs.get(service, 0.0)

    def impact(self, service: str) -> float:
        """Cost per minute of ``service`` plus every dependent it takes down with it."""
        return self.cost_per_minute(service) + sum(self.cost_per_minute(d) for d in self.descendants(service))

    def order(self, services: Iterable[str]) -> list[str]:
        """Root causes before their dependents; otherwise the highest business impact first.

        Greedy topological order: at each step take, among the services none of whose remaining
        ancestors is still waiting, the one with the highest impact (then by name, for determinism).
        """
        remaining = set(services)
        ordered: list[str] = []
        while remaining:
            ready = [s for s in remaining if not (self.ancestors(s) & remaining)]
            pick = min(ready, key=lambda s: (-self.impact(s), s))
            ordered.append(pick)
            remaining.discard(pick)
        return ordered


__all__ = ["DependencyMap"]
