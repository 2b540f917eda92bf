"""RemovableHandle: what every `register_*_hook` returns, so a hook can be taken off again.

The handle holds the hook's id and the dicts (and id sets) it was put in; `remove()`
deletes it from them (a second `remove()` does nothing), and `with handle:` removes it on
leaving the block, as torch.utils.hooks.RemovableHandle does.
"""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count()


class RemovableHandle:
    """Removes one registered hook from the dicts that hold it."""

    def __init__(self, *holders: dict | set) -> None:
        self.id = next(_ids)
        self._holders: tuple[Any, ...] = holders

    def remove(self) -> None:
        for holder in self._holders:
            if isinstance(holder, dict):
                holder.pop(self.id, None)
            else:
                holder.discard(self.id)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"RemovableHandle(id={self.id})"
