"""websocket-client's callback API: :class:`WebSocketApp` and ``run_forever``.

::

    from wirespeed.sync import WebSocketApp

    def on_message(app, message):
        print(message)
        app.close()

    app = WebSocketApp("ws://127.0.0.1:8765", on_open=lambda app: app.send("hi"),
                       on_message=on_message)
    app.run_forever(ping_interval=30, ping_timeout=10, reconnect=5)

Every callback is called with the app first. A callback that raises is
logged and reported to ``on_error``; an ``on_error`` that raises is only
logged.
"""

from __future__ import annotations

import logging
import socket
import socket as _socket_module
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .dispatcher import Dispatcher, DispatcherBase, SSLDispatcher, WrappedDispatcher
from .exceptions import (
    WebSocketConnectionClosedException,
    WebSocketException,
    WebSocketTimeoutException,
)
from .websocket import ABNF, WebSocket, getdefaulttimeout

__all__ = ["RECONNECT", "WebSocketApp", "setReconnect", "set_reconnect"]

logger = logging.getLogger("websocket")

#: Default delay, in seconds, before reconnecting; 0 doesn't reconnect.
RECONNECT = 0


def set_reconnect(reconnectInterval: int) -> None:
    """Set the default ``reconnect`` delay of :meth:`WebSocketApp.run_forever`."""
    global RECONNECT
    RECONNECT = reconnectInterval


#: The camel-case name of :func:`set_reconnect`.
setReconnect = set_reconnect

HeaderOption = Union[
    List[str], Dict[str, str], Callable[[], Union[List[str], Dict[str, str]]], None
]


class WebSocketApp:
    """A WebSocket client driven by callbacks, like the JavaScript ``WebSocket``.

    :param url: ``ws://`` or ``wss://`` URL.
    :param header: extra handshake headers: a list of ``"Name: value"``, a
        dict, or a callable returning either, called before each connection
        attempt (for time-dependent headers).
    :param on_open: ``on_open(app)``, once connected.
    :param on_reconnect: ``on_reconnect(app)``, once reconnected; ``on_open``
        is called instead when it isn't set.
    :param on_message: ``on_message(app, message)``: str for text (bytes with
        ``skip_utf8_validation``), bytes for binary.
    :param on_error: ``on_error(app, exception)``.
    :param on_close: ``on_close(app, close_status_code, close_msg)``, from the
        close frame received, ``None, None`` without one.
    :param on_ping: ``on_ping(app, payload)`` (the pong is sent for you).
    :param on_pong: ``on_pong(app, payload)``.
    :param on_cont_message: ``on_cont_message(app, data, fin)`` for each
        continuation frame; setting it delivers fragmented messages frame by
        frame, the first one to ``on_message``.
    :param keep_running: obsolete, ignored.
    :param get_mask_key: ``get_mask_key(4)`` returns mask keys (see
        :meth:`WebSocket.set_mask_key`).
    :param cookie: value of the ``Cookie`` header.
    :param subprotocols: subprotocols to offer.
    :param on_data: ``on_data(app, data, opcode, fin)``, called before
        ``on_message`` or ``on_cont_message``.
    :param socket: a connected socket to use instead of opening one.
    :param compression: ``"deflate"`` to offer permessage-deflate; ``None``
        (the default) doesn't. A wirespeed addition.
    """

    def __init__(
        self,
        url: str,
        header: HeaderOption = None,
        on_open: Optional[Callable[[WebSocketApp], None]] = None,
        on_reconnect: Optional[Callable[[WebSocketApp], None]] = None,
        on_message: Optional[Callable[[WebSocketApp, Any], None]] = None,
        on_error: Optional[Callable[[WebSocketApp, Any], None]] = None,
        on_close: Optional[Callable[[WebSocketApp, Any, Any], None]] = None,
        on_ping: Optional[Callable[..., Any]] = None,
        on_pong: Optional[Callable[..., Any]] = None,
        on_cont_message: Optional[Callable[..., Any]] = None,
        keep_running: bool = True,
        get_mask_key: Optional[Callable[[int], bytes]] = None,
        cookie: Optional[str] = None,
        subprotocols: Optional[List[str]] = None,
        on_data: Optional[Callable[..., Any]] = None,
        socket: Optional[socket.socket] = None,
        *,
        compression: Optional[str] = None,
    ) -> None:
        self.url = url
        self.header: HeaderOption = header if header is not None else []
        self.cookie = cookie
        self.on_open = on_open
        self.on_reconnect = on_reconnect
        self.on_message = on_message
        self.on_data = on_data
        self.on_error = on_error
        self.on_close = on_close
        self.on_ping = on_ping
        self.on_pong = on_pong
        self.on_cont_message = on_cont_message
        #: True while ``run_forever`` runs; :meth:`close` clears it.
        self.keep_running = False
        self.get_mask_key = get_mask_key
        #: The :class:`WebSocket` of the current connection, ``None`` when closed.
        self.sock: Optional[WebSocket] = None
        self.last_ping_tm = 0.0
        self.last_pong_tm = 0.0
        self.ping_thread: Optional[threading.Thread] = None
        self.stop_ping: Optional[threading.Event] = None
        self.ping_interval: float = 0.0
        self.ping_timeout: Optional[float] = None
        self.ping_payload: Union[str, bytes] = ""
        self.subprotocols = subprotocols
        self.prepared_socket = socket
        self.compression = compression
        self.has_errored = False
        self.has_done_teardown = False
        self.has_done_teardown_lock = threading.Lock()
        self._stop_requested = threading.Event()
        # A socket pair that close() writes to, to wake the dispatcher up.
        self._wakeup_reader: Optional[socket.socket] = None
        self._wakeup_writer: Optional[socket.socket] = None

    # Sending

    def send(self, data: Union[str, bytes], opcode: int = ABNF.OPCODE_TEXT) -> None:
        """Send a message (text by default).

        :raises WebSocketConnectionClosedException: ``"Connection is already
            closed."`` when not connected.
        """
        websocket = self.sock
        if websocket is None or websocket.send(data, opcode) == 0:
            raise WebSocketConnectionClosedException("Connection is already closed.")

    def send_text(self, text_data: str) -> None:
        """Send a text message."""
        self.send(text_data, ABNF.OPCODE_TEXT)

    def send_bytes(self, data: Union[bytes, bytearray]) -> None:
        """Send a binary message."""
        self.send(data, ABNF.OPCODE_BINARY)

    def close(self, **kwargs: Any) -> None:
        """Close the connection and stop ``run_forever`` (no reconnection).

        ``kwargs`` go to :meth:`WebSocket.close` (``status``, ``reason``,
        ``timeout``).
        """
        self.keep_running = False
        self._stop_requested.set()
        writer = self._wakeup_writer
        if writer is not None:
            try:
                writer.send(b"\0")
            except OSError:
                pass
        websocket = self.sock
        if websocket is not None:
            websocket.close(**kwargs)
            self.sock = None

    def ready(self) -> bool:
        """Whether the connection is open."""
        websocket = self.sock
        return bool(websocket is not None and websocket.connected)

    # Ping thread

    def _start_ping_thread(self) -> None:
        self.last_ping_tm = self.last_pong_tm = 0.0
        self.stop_ping = threading.Event()
        self.ping_thread = threading.Thread(
            target=self._send_ping, args=(self.stop_ping,), name="websocket-ping", daemon=True
        )
        self.ping_thread.start()

    def _stop_ping_thread(self) -> None:
        if self.stop_ping is not None:
            self.stop_ping.set()
        thread = self.ping_thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(3)
            if thread.is_alive():
                logger.warning("Ping thread failed to terminate within 3 seconds")
        self.ping_thread = None
        self.stop_ping = None
        self.last_ping_tm = self.last_pong_tm = 0.0

    def _send_ping(self, stop: threading.Event) -> None:
        while not stop.wait(self.ping_interval) and self.keep_running:
            websocket = self.sock
            if websocket is None:
                continue
            self.last_ping_tm = time.time()
            try:
                logger.debug("Sending ping")
                websocket.ping(self.ping_payload)
            except Exception as exc:
                logger.debug("Failed to send ping: %s", exc)

    # The loop

    def run_forever(
        self,
        sockopt: Optional[Sequence[Tuple[Any, ...]]] = None,
        sslopt: Optional[Dict[str, Any]] = None,
        ping_interval: float = 0,
        ping_timeout: Optional[float] = None,
        ping_payload: Union[str, bytes] = "",
        http_proxy_host: Optional[str] = None,
        http_proxy_port: Union[int, str, None] = None,
        http_no_proxy: Optional[List[str]] = None,
        http_proxy_auth: Optional[Tuple[str, str]] = None,
        http_proxy_timeout: Optional[float] = None,
        skip_utf8_validation: bool = False,
        host: Optional[str] = None,
        origin: Optional[str] = None,
        dispatcher: Any = None,
        suppress_origin: bool = False,
        suppress_host: bool = False,
        proxy_type: Optional[str] = None,
        reconnect: Optional[float] = None,
    ) -> bool:
        """Connect and dispatch incoming frames to the callbacks until closed.

        :param sockopt: ``setsockopt`` argument tuples.
        :param sslopt: TLS options (``cert_reqs``, ``ca_certs``, ``certfile``,
            ``keyfile``, ``check_hostname``, ``server_hostname``,
            ``ssl_version``, ``context``, ...).
        :param ping_interval: send a ping every so many seconds; 0 never.
        :param ping_timeout: fail with ``"ping/pong timed out"`` when a pong
            doesn't come back within so many seconds.
        :param ping_payload: payload of those pings.
        :param http_proxy_host: HTTP (or SOCKS, see ``proxy_type``) proxy.
        :param http_proxy_port: its port, 80 by default.
        :param http_no_proxy: hosts to reach without the proxy.
        :param http_proxy_auth: ``(user, password)`` for the proxy.
        :param http_proxy_timeout: timeout of the proxy connection.
        :param skip_utf8_validation: deliver text messages as bytes.
        :param host: value of the ``Host`` header.
        :param origin: value of the ``Origin`` header.
        :param dispatcher: custom dispatcher (see :mod:`wirespeed.sync.dispatcher`).
        :param suppress_origin: send no ``Origin`` header.
        :param suppress_host: send no ``Host`` header.
        :param proxy_type: ``http``, ``socks4``, ``socks4a``, ``socks5`` or ``socks5h``.
        :param reconnect: seconds to wait before reconnecting after the
            connection is lost; 0 doesn't reconnect. Defaults to the value
            set with :func:`set_reconnect`.
        :returns: ``False`` if the app was closed, ``True`` if an error or
            disconnection ended the loop.
        :raises WebSocketException: for invalid ping settings, or if the app
            is already running.
        :raises KeyboardInterrupt: after tearing down, when interrupted.
        """
        if reconnect is None:
            reconnect = RECONNECT
        if ping_timeout is not None and ping_timeout <= 0:
            raise WebSocketException("Ensure ping_timeout > 0")
        if ping_interval is not None and ping_interval < 0:
            raise WebSocketException("Ensure ping_interval >= 0")
        if ping_timeout and ping_interval and ping_interval <= ping_timeout:
            raise WebSocketException("Ensure ping_interval > ping_timeout")
        sockopt = list(sockopt or [])
        sslopt = dict(sslopt or {})
        if self.sock is not None:
            raise WebSocketException("socket is already opened")

        self.ping_interval = ping_interval or 0
        self.ping_timeout = ping_timeout
        self.ping_payload = ping_payload
        self.has_done_teardown = False
        self.has_errored = False
        self.keep_running = True
        self._stop_requested.clear()
        custom_dispatcher = dispatcher is not None
        interrupted: List[BaseException] = []

        def teardown(close_frame: Optional[ABNF] = None) -> None:
            # Many paths end the connection; only the first one does the work.
            with self.has_done_teardown_lock:
                if self.has_done_teardown:
                    return
                self.has_done_teardown = True
            self._stop_ping_thread()
            self.keep_running = False
            websocket = self.sock
            if websocket is not None:
                # Clear self.sock first, so that run_forever may be called again
                # from on_close or another thread.
                self.sock = None
                websocket.close()
            code, reason = self._get_close_args(close_frame)
            self._callback(self.on_close, code, reason)

        def initialize_socket(reconnecting: bool = False) -> None:
            if reconnecting and self.sock is not None:
                self.sock.shutdown()
            self.sock = WebSocket(
                self.get_mask_key,
                sockopt=sockopt,
                sslopt=sslopt,
                fire_cont_frame=self.on_cont_message is not None,
                skip_utf8_validation=skip_utf8_validation,
                enable_multithread=True,
                compression=self.compression,
            )
            self.sock.settimeout(getdefaulttimeout())
            try:
                header = self.header() if callable(self.header) else self.header
                self.sock.connect(
                    self.url,
                    header=header,
                    cookie=self.cookie,
                    http_proxy_host=http_proxy_host,
                    http_proxy_port=http_proxy_port,
                    http_no_proxy=http_no_proxy,
                    http_proxy_auth=http_proxy_auth,
                    http_proxy_timeout=http_proxy_timeout,
                    subprotocols=self.subprotocols,
                    host=host,
                    origin=origin,
                    suppress_origin=suppress_origin,
                    suppress_host=suppress_host,
                    proxy_type=proxy_type,
                    socket=self.prepared_socket,
                )
                logger.info("Websocket connected")
                if self.ping_interval:
                    self._start_ping_thread()
                if reconnecting and self.on_reconnect is not None:
                    self._callback(self.on_reconnect)
                else:
                    self._callback(self.on_open)
                websocket = self.sock
                if websocket is None or websocket.sock is None:
                    # A callback closed the app already.
                    if not self.keep_running:
                        teardown()
                    return
                active_dispatcher.read(websocket.sock, read, check)
            except (Exception, KeyboardInterrupt, SystemExit) as exc:
                handle_disconnect(exc, reconnecting)

        def read() -> bool:
            if not self.keep_running:
                teardown()
                return False
            websocket = self.sock
            if websocket is None:
                return False
            while True:
                try:
                    opcode, frame = websocket.recv_data_frame(True)
                except (WebSocketConnectionClosedException, KeyboardInterrupt) as exc:
                    if custom_dispatcher:
                        return closed(exc)
                    raise
                if opcode == ABNF.OPCODE_CLOSE:
                    return closed(frame)
                if opcode == ABNF.OPCODE_PING:
                    self._callback(self.on_ping, frame.data)
                elif opcode == ABNF.OPCODE_PONG:
                    self.last_pong_tm = time.time()
                    self._callback(self.on_pong, frame.data)
                elif opcode == ABNF.OPCODE_CONT and self.on_cont_message is not None:
                    self._callback(self.on_data, frame.data, frame.opcode, frame.fin)
                    self._callback(self.on_cont_message, frame.data, frame.fin)
                else:
                    data: Union[str, bytes] = frame.data
                    if opcode == ABNF.OPCODE_TEXT and not skip_utf8_validation:
                        data = frame.data.decode("utf-8")  # type: ignore[union-attr]
                    self._callback(self.on_data, data, frame.opcode, True)
                    self._callback(self.on_message, data)
                # Frames that arrived in the same read are handled now: the
                # socket won't signal them again.
                if not self.keep_running or self.sock is not websocket or not websocket.events:
                    return True

        def check() -> bool:
            if self.ping_timeout:
                expired = time.time() - self.last_ping_tm > self.ping_timeout
                pong_missing = self.last_pong_tm - self.last_ping_tm < 0
                pong_late = self.last_pong_tm - self.last_ping_tm > self.ping_timeout
                if self.last_ping_tm and expired and (pong_missing or pong_late):
                    raise WebSocketTimeoutException("ping/pong timed out")
            return True

        def closed(event: Union[BaseException, ABNF, str] = "closed unexpectedly") -> bool:
            close_frame: Optional[ABNF] = None
            exc: BaseException
            if isinstance(event, str):
                exc = WebSocketConnectionClosedException(event)
            elif isinstance(event, ABNF):
                close_frame = event
                exc = self._close_exception(event)
            else:
                exc = event
            handle_disconnect(exc, bool(reconnect), close_frame)
            # This connection is over: stop reading it.
            return False

        def handle_disconnect(
            exc: BaseException, reconnecting: bool = False, close_frame: Optional[ABNF] = None
        ) -> bool:
            self.has_errored = True
            self._stop_ping_thread()
            if not reconnecting:
                self._callback(self.on_error, exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                teardown(close_frame)
                interrupted.append(exc)
                raise exc
            if reconnect and self.keep_running:
                logger.info("%s - reconnect", exc)
                if custom_dispatcher:
                    active_dispatcher.reconnect(reconnect, initialize_socket)
            else:
                logger.error("%s - goodbye", exc)
                teardown(close_frame)
            return self.has_errored

        active_dispatcher = self.create_dispatcher(
            ping_timeout, dispatcher, self.url.lower().startswith("wss"), closed
        )

        if not custom_dispatcher:
            self._wakeup_reader, self._wakeup_writer = _socket_module.socketpair()
            self._wakeup_reader.setblocking(False)
        try:
            initialize_socket()
            if not custom_dispatcher and reconnect:
                while self.keep_running:
                    active_dispatcher.reconnect(reconnect, initialize_socket)
        except (KeyboardInterrupt, SystemExit):
            teardown()
            raise
        except Exception as exc:
            logger.info("tearing down on exception %s", exc)
            teardown()
        finally:
            if not custom_dispatcher:
                teardown()
                for end in (self._wakeup_reader, self._wakeup_writer):
                    if end is not None:
                        end.close()
                self._wakeup_reader = self._wakeup_writer = None
        if interrupted:  # pragma: no cover - re-raised above already
            raise interrupted[0]
        return self.has_errored

    def create_dispatcher(
        self,
        ping_timeout: Optional[float],
        dispatcher: Any = None,
        is_ssl: bool = False,
        handleDisconnect: Optional[Callable[..., Any]] = None,
    ) -> Union[DispatcherBase, WrappedDispatcher]:
        """Wrap a custom dispatcher, or create the default one."""
        if dispatcher is not None:
            return WrappedDispatcher(self, ping_timeout, dispatcher, handleDisconnect or _noop)
        timeout = ping_timeout or 10
        if is_ssl:
            return SSLDispatcher(self, timeout)
        return Dispatcher(self, timeout)

    # Close frames

    def _close_exception(self, close_frame: ABNF) -> WebSocketConnectionClosedException:
        """Describe a received close frame as an exception for ``on_error``."""
        code, reason = self._parse_close_frame(close_frame)
        if code is None:
            message = "Connection closed"
        elif code == 1000:
            message = "Connection closed normally (code 1000)"
        else:
            message = f"Connection closed (code {code})"
        if reason:
            message = f"{message}: {reason}"
        exc = WebSocketConnectionClosedException(message)
        exc.status_code = code
        exc.reason = reason
        return exc

    def _get_close_args(self, close_frame: Optional[ABNF]) -> List[Any]:
        """``[code, reason]`` for ``on_close``: ``[None, None]`` without a close frame."""
        if close_frame is None:
            return [None, None]
        code, reason = self._parse_close_frame(close_frame)
        if self.on_close is None:
            return [None, None]
        return [code, reason]

    def _parse_close_frame(
        self, close_frame: Optional[ABNF]
    ) -> Tuple[Optional[int], Optional[str]]:
        """Parse the payload of a close frame into ``(code, reason)``.

        No payload, or one byte, gives ``(None, None)``; an empty reason gives
        ``None``; a reason that isn't UTF-8 is decoded with replacement
        characters.
        """
        if close_frame is None or not getattr(close_frame, "data", None):
            return None, None
        data = close_frame.data
        if isinstance(data, str):
            payload = data.encode()
        else:
            payload = bytes(data)
        if len(payload) < 2:
            return None, None
        code = payload[0] * 256 + payload[1]
        if len(payload) == 2:
            return code, None
        return code, payload[2:].decode("utf-8", errors="replace")

    def _callback(self, callback: Optional[Callable[..., Any]], *args: Any) -> None:
        """Call ``callback(self, *args)``; report an exception to ``on_error``.

        An exception raised by ``on_error`` itself is only logged.
        """
        if callback is None:
            return
        try:
            callback(self, *args)
        except Exception as exc:
            logger.error("error from callback %s: %s", callback, exc)
            on_error = self.on_error
            if on_error is not None and callback is not on_error:
                try:
                    on_error(self, exc)
                except Exception as error:
                    logger.error("error from callback %s: %s", on_error, error)


def _noop(*_: Any) -> None:
    return None
