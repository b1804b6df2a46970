"""A registry of the modules of a package that each define one object (a step, a task).

``steps/`` and ``tasks/`` hold one module per member; each defines the member under one
attribute name (``STEP``, ``TASK``). The registry imports those modules the first time it
is asked, so importing a package stays light, and takes members defined elsewhere (a plug-in,
a test) through ``register``.
"""
from __future__ import annotations

import importlib
import pkgutil


class Registry:
    def __init__(self, package: str, path, attribute: str, kind: str):
        """``package``/``path``: the package's ``__name__`` and ``__path__``; ``attribute``: what each module
        defines; ``kind``: how a member is named in messages ("compression step", "task")."""
        self.package, self.path, self.attribute, self.kind = package, path, attribute, kind
        self._members: dict = {}

    def _discover(self) -> None:
        """Import each module of the package once (not those starting with _) and register what it defines."""
        if self._members:
            return
        for module in pkgutil.iter_modules(self.path):
            if module.name.startswith("_"):
                continue
            member = getattr(importlib.import_module(f"{self.package}.{module.name}"), self.attribute, None)
            if member is not None:
                self._members[member.name] = member

    def register(self, member):
        """Add a member defined outside the package (a plug-in or a test); its name must be new."""
        self._discover()
        if member.name in self._members:
            raise ValueError(f"a {self.kind} named {member.name!r} is already registered")
        self._members[member.name] = member
        return member

    def unregister(self, name: str) -> None:
        self._members.pop(name, None)

    def members(self) -> dict:
        """name -> member, every one registered."""
        self._discover()
        return dict(self._members)
