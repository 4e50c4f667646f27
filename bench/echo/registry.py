"""Which libraries can play which role, imported lazily (peers are optional)."""

from __future__ import annotations

import importlib

# name -> (module, class, constructor arguments)
ROLES = {
    "wirespeed": ("echo.listener", "ListenerRole", ("wirespeed",)),
    "picows": ("echo.listener", "ListenerRole", ("picows",)),
    "websockets": ("echo.websockets_role", "WebsocketsRole", ()),
    "aiohttp": ("echo.aiohttp_role", "AiohttpRole", ()),
    "websocket-client": ("echo.websocket_client_role", "WebsocketClientRole", ()),
    "raw-tcp": ("echo.rawtcp", "RawTcpRole", ()),
    "raw-tcp/aiofastnet": ("echo.rawtcp", "RawTcpRole", (True,)),
}

# library name -> module to import to know whether it is installed
IMPORT_NAMES = {
    "wirespeed": "wirespeed",
    "picows": "picows",
    "websockets": "websockets",
    "aiohttp": "aiohttp",
    "websocket-client": "websocket",
}

CLIENTS = ["wirespeed", "picows", "websockets", "aiohttp", "websocket-client"]
SERVERS = ["wirespeed", "picows", "websockets", "aiohttp"]
SYNC_CLIENTS = {"websocket-client"}  # no event loop: measured once


def load(name: str):
    """Instantiate the role object for library ``name``."""
    module_name, class_name, args = ROLES[name]
    return getattr(importlib.import_module(module_name), class_name)(*args)
