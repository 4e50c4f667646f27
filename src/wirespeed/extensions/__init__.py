"""WebSocket extensions: the negotiation and per-frame interface."""

from .base import ClientExtensionFactory, Extension, ExtensionParameters, ServerExtensionFactory

__all__ = ["ClientExtensionFactory", "Extension", "ExtensionParameters", "ServerExtensionFactory"]
