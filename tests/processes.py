"""Which processes a process started, from /proc (Linux): for the tests that kill commands and actors, and for
the wrapper they run in a subprocess (it imports this module, so it stays plain)."""

from __future__ import annotations

from pathlib import Path


def descendants(pid: int) -> dict[int, str]:
    """{pid: command line} of every process below `pid` (Ray titles its workers `ray::Class.method`)."""
    parents, lines = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):  # gone while read
                continue
            parents[int(entry.name)], lines[int(entry.name)] = parent, line
    found, todo = {}, [pid]
    while todo:
        below = todo.pop()
        kids = [child for child, parent in parents.items() if parent == below]
        found.update((child, lines[child]) for child in kids)
        todo += kids
    return found
