"""The loops that drive :meth:`WebSocketApp.run_forever <wirespeed.sync.WebSocketApp.run_forever>`.

A dispatcher has two methods:

* ``read(sock, read_callback, check_callback)`` calls ``read_callback()``
  whenever the socket has data, and stops when it returns a false value or
  the app stops running; it calls ``check_callback()`` regularly (at least
  every ``ping_timeout`` seconds) so that a missing pong is noticed;
* ``reconnect(seconds, reconnector)`` waits ``seconds`` then calls
  ``reconnector(reconnecting=True)``.

:class:`Dispatcher` is the default, a blocking loop on :mod:`selectors`. Pass
your own object as ``run_forever(dispatcher=...)`` to integrate with an event
loop: either with that interface, or with the one of event-loop libraries
such as ``rel`` (``read(sock, callback)`` and ``timeout(seconds, callback,
*args)``), which :class:`WrappedDispatcher` adapts.
"""

from __future__ import annotations

import inspect
import logging
import selectors
import ssl
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .app import WebSocketApp

__all__ = ["Dispatcher", "DispatcherBase", "SSLDispatcher", "WrappedDispatcher"]

logger = logging.getLogger("websocket")


class DispatcherBase:
    """Shared behaviour of the built-in dispatchers.

    :param app: the app being run.
    :param ping_timeout: longest wait, in seconds, between two calls to the
        check callback.
    """

    def __init__(self, app: WebSocketApp, ping_timeout: Optional[float]) -> None:
        self.app = app
        self.ping_timeout = ping_timeout

    def timeout(self, seconds: Optional[float], callback: Callable[[], Any]) -> None:
        """Wait ``seconds`` (or until the app is closed), then call ``callback``."""
        if seconds is not None:
            self.app._stop_requested.wait(seconds)
        callback()

    def reconnect(self, seconds: float, reconnector: Callable[..., Any]) -> None:
        """Wait ``seconds`` (or until the app is closed), then reconnect if still running."""
        logger.info("reconnect() - retrying in %s seconds", seconds)
        self.app._stop_requested.wait(seconds)
        if self.app.keep_running:
            reconnector(reconnecting=True)

    def read(
        self,
        sock: Any,
        read_callback: Callable[[], Any],
        check_callback: Callable[[], Any],
    ) -> None:
        """Call ``read_callback`` on incoming data until it returns false."""
        with selectors.DefaultSelector() as selector:
            try:
                selector.register(sock, selectors.EVENT_READ)
            except (ValueError, OSError, KeyError):
                read_callback()
                return
            wakeup = self.app._wakeup_reader
            if wakeup is not None:
                # WebSocketApp.close() writes to it, from any thread.
                selector.register(wakeup, selectors.EVENT_READ)
            while self.app.keep_running:
                ready = self.has_pending(sock) or self.select(selector)
                if ready and not read_callback():
                    break
                check_callback()

    def select(self, selector: selectors.BaseSelector) -> bool:
        """Wait up to ``ping_timeout`` seconds for the socket to be readable."""
        try:
            ready = selector.select(self.ping_timeout)
        except (ValueError, OSError):
            # The socket was closed by another thread: let read_callback see it.
            return True
        wakeup = self.app._wakeup_reader
        for key, _ in ready:
            if key.fileobj is wakeup:
                try:
                    wakeup.recv(4096)
                except OSError:
                    pass
                return not self.app.keep_running
        return bool(ready)

    def has_pending(self, sock: Any) -> bool:
        """Whether data is already buffered above the socket."""
        websocket = self.app.sock
        if websocket is not None and websocket.events:
            return True
        return isinstance(sock, ssl.SSLSocket) and bool(sock.pending())


class Dispatcher(DispatcherBase):
    """The default dispatcher: a blocking loop in the thread of ``run_forever``."""


class SSLDispatcher(DispatcherBase):
    """The default dispatcher for ``wss://``: also reads data that TLS has buffered."""


class WrappedDispatcher:
    """Adapts a custom dispatcher to the interface ``run_forever`` uses.

    A dispatcher with ``read(sock, read_callback, check_callback)`` and
    ``reconnect(seconds, reconnector)`` is called as is; one with
    ``read(sock, callback)`` and ``timeout(seconds, callback, *args)`` (the
    interface of ``rel``) gets the check callback every ``ping_timeout``
    seconds and reconnections through ``timeout``.
    """

    def __init__(
        self,
        app: WebSocketApp,
        ping_timeout: Optional[float],
        dispatcher: Any,
        handle_disconnect: Callable[..., Any],
    ) -> None:
        self.app = app
        self.ping_timeout = ping_timeout
        self.dispatcher = dispatcher
        self.handle_disconnect = handle_disconnect
        if (
            hasattr(dispatcher, "signal")
            and hasattr(dispatcher, "abort")
            and threading.current_thread() is threading.main_thread()
        ):
            dispatcher.signal(2, dispatcher.abort)  # SIGINT

    def read(
        self,
        sock: Any,
        read_callback: Callable[[], Any],
        check_callback: Callable[[], Any],
    ) -> None:
        """Register the callbacks with the custom dispatcher."""
        if _positional_count(self.dispatcher.read) >= 3:
            self.dispatcher.read(sock, read_callback, check_callback)
            return
        self.dispatcher.read(sock, read_callback)
        if self.ping_timeout:
            self.timeout(self.ping_timeout, check_callback)

    def timeout(self, seconds: float, callback: Callable[..., Any], *args: Any) -> None:
        """Ask the custom dispatcher to call ``callback(*args)`` in ``seconds``."""
        self.dispatcher.timeout(seconds, callback, *args)

    def reconnect(self, seconds: float, reconnector: Callable[..., Any]) -> None:
        """Ask the custom dispatcher to reconnect in ``seconds``."""
        if hasattr(self.dispatcher, "reconnect"):
            self.dispatcher.reconnect(seconds, reconnector)
        else:
            self.timeout(seconds, reconnector, True)


def _positional_count(function: Callable[..., Any]) -> int:
    """How many positional arguments ``function`` accepts (a large number for *args)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 2
    count = 0
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            return 99
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count
