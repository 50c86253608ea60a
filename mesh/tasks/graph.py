"""Dependencies between tasks: names within a batch, unknown references, cycles, order, ids.

A dependency names a task of the same batch (by `name`) or an existing task (by id or name, looked up
through `known`). A batch name wins over an existing task of the same name. Existing tasks cannot
depend on new ones, so a cycle can only lie within one batch.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from mesh.tasks.fields import FieldError, Issues, TaskValidationError, child, item
from mesh.tasks.model import TaskSpec

# Existing tasks: name-or-id -> id, a set of ids, or a lookup function returning the id (or None).
Known = Mapping[str, str] | AbstractSet[str] | Callable[[str], "str | None"]
Lookup = Callable[[str], "str | None"]


@dataclass(frozen=True, slots=True)
class Node:
    """What the graph checks need of one task: where it is, its name, its dependencies as written."""

    path: str
    name: str | None
    dependencies: tuple[str, ...]


def lookup_for(known: Known | None) -> Lookup | None:
    """A uniform lookup over the forms `known` may take; None means "existing tasks are unknown"."""
    if known is None:
        return None
    if isinstance(known, Mapping):
        mapping = known
        return lambda ref: mapping.get(ref)
    if isinstance(known, AbstractSet):
        ids = known
        return lambda ref: ref if ref in ids else None
    return known


def check_graph(issues: Issues, nodes: Sequence[Node], lookup: Lookup | None) -> None:
    """Record duplicate names, unknown dependencies and every cycle (as `a -> b -> a`)."""
    first: dict[str, int] = {}
    for index, node in enumerate(nodes):
        if node.name is None:
            continue
        if node.name in first:
            issues.add(child(node.path, "name"),
                       f"duplicate name {node.name!r}; {nodes[first[node.name]].path} already uses it")
        else:
            first[node.name] = index
    edges: list[list[int]] = [[] for _ in nodes]
    for index, node in enumerate(nodes):
        for position, ref in enumerate(node.dependencies):
            if ref in first:
                edges[index].append(first[ref])
            elif lookup is not None and lookup(ref) is None:
                issues.add(item(child(node.path, "dependencies"), position),
                           f"unknown dependency {ref!r}: no task in this batch or in the cluster "
                           "has that name or id")
    for cycle in find_cycles(edges):
        names = [nodes[i].name or nodes[i].path for i in cycle]
        issues.add(child(nodes[cycle[0]].path, "dependencies"),
                   "dependency cycle: " + " -> ".join([*names, names[0]]))


def find_cycles(edges: Sequence[Sequence[int]]) -> list[list[int]]:
    """One cycle per back edge of a depth-first search, each rotated to start at its lowest index."""
    white, gray, black = 0, 1, 2
    color = [white] * len(edges)
    found: dict[tuple[int, ...], None] = {}
    for root in range(len(edges)):
        if color[root] != white:
            continue
        color[root] = gray
        path = [root]
        stack = [iter(edges[root])]
        while stack:
            target = next(stack[-1], None)
            if target is None:
                color[path.pop()] = black
                stack.pop()
            elif color[target] == gray:
                cycle = path[path.index(target):]
                low = cycle.index(min(cycle))
                found[tuple(cycle[low:] + cycle[:low])] = None
            elif color[target] == white:
                color[target] = gray
                path.append(target)
                stack.append(iter(edges[target]))
    return [list(cycle) for cycle in found]


def _batch_edges(specs: Sequence[TaskSpec]) -> list[list[int]]:
    names: dict[str, int] = {}
    for index, spec in enumerate(specs):
        if spec.name is not None:
            names.setdefault(spec.name, index)
    return [[names[ref] for ref in spec.dependencies if ref in names] for spec in specs]


def topological_order(specs: Sequence[TaskSpec]) -> list[int]:
    """Batch indices, each after every batch task it depends on; otherwise in batch order.

    Raises `TaskValidationError` if the batch has a cycle (`parse_tasks` never returns one).
    """
    edges = _batch_edges(specs)
    cycles = find_cycles(edges)
    if cycles:
        names = [[specs[i].name or f"$[{i}]" for i in cycle] for cycle in cycles]
        raise TaskValidationError([FieldError(f"$[{c[0]}].dependencies",
                                              "dependency cycle: " + " -> ".join([*n, n[0]]))
                                   for c, n in zip(cycles, names, strict=True)])
    waiting = [len(set(deps)) for deps in edges]
    dependents: list[list[int]] = [[] for _ in specs]
    for index, deps in enumerate(edges):
        for dep in set(deps):
            dependents[dep].append(index)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for dependent in dependents[index]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    return order


def resolve_dependencies(specs: Sequence[TaskSpec], ids: Sequence[str],
                         known: Known | None = None) -> list[tuple[str, ...]]:
    """Each spec's dependencies as task ids, given the ids the leader assigned to the batch.

    Batch names map to the batch's ids, anything else through `known`; duplicates are dropped.
    Raises `TaskValidationError` for a reference that resolves to nothing.
    """
    if len(ids) != len(specs):
        raise ValueError(f"{len(specs)} specs but {len(ids)} ids")
    names: dict[str, str] = {}
    for spec, task_id in zip(specs, ids, strict=True):
        if spec.name is not None:
            names.setdefault(spec.name, task_id)
    lookup = lookup_for(known)
    issues = Issues()
    resolved = []
    for index, spec in enumerate(specs):
        out: dict[str, None] = {}
        for position, ref in enumerate(spec.dependencies):
            target = names.get(ref) or (lookup(ref) if lookup is not None else None)
            if target is None:
                issues.add(f"$[{index}].dependencies[{position}]",
                           f"unknown dependency {ref!r}: no task in this batch or in the cluster "
                           "has that name or id")
            else:
                out[target] = None
        resolved.append(tuple(out))
    issues.raise_if_any()
    return resolved
