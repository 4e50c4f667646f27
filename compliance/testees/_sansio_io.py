"""Blocking-socket I/O for the Sans-I/O testees.

:class:`EchoSession` drives one :mod:`wirespeed.sansio` protocol object over
one connected TCP socket until the connection is closed. It is the only I/O
code the Sans-I/O testees have, so that a conformance failure points at the
library rather than at the glue around it:

* after every call into the protocol, everything that
  :meth:`~wirespeed.sansio.Protocol.data_to_send` returns is written to the
  socket, and the :data:`~wirespeed.sansio.SEND_EOF` sentinel (``b""``)
  half-closes it with ``shutdown(SHUT_WR)``;
* bytes read go to :meth:`~wirespeed.sansio.Protocol.receive_data`, the end of
  the stream (or a reset) to :meth:`~wirespeed.sansio.Protocol.receive_eof`;
* when :meth:`~wirespeed.sansio.Protocol.close_expected` says the TCP
  connection should close soon, the peer gets :data:`CLOSE_TIMEOUT` seconds to
  close it before the socket is closed anyway;
* complete messages are reassembled from their frames and, when ``echo`` is
  set, sent back as a single frame of the same type while the connection is
  OPEN. Control frames are left to the protocol, which answers pings and close
  frames by itself.

The testee does not validate UTF-8 itself: that is the library's job, and the
conformance suite is there to check it. A text message that is not valid
UTF-8 is still echoed, and reported on standard error, because it means that
the library let it through.
"""

from __future__ import annotations

import socket
import sys
import traceback
from typing import Any, List, Optional, Tuple

from wirespeed.frames import Frame, Opcode
from wirespeed.sansio import SEND_EOF, State

__all__ = ["CLOSE_TIMEOUT", "IDLE_TIMEOUT", "EchoSession", "log"]

#: Seconds the peer gets to close TCP once the protocol expects it to.
CLOSE_TIMEOUT = 3.0

#: Seconds without any incoming byte after which a connection is abandoned.
#: No Autobahn case stays silent that long; this only keeps a confused peer
#: from holding a testee forever.
IDLE_TIMEOUT = 60.0

#: Bytes asked from the socket per read.
RECV_SIZE = 256 * 1024


def log(message: str) -> None:
    """Write one diagnostic line to standard error."""
    print(message, file=sys.stderr, flush=True)


class EchoSession:
    """One WebSocket connection: a protocol object and its socket.

    :param sock: a connected, blocking TCP socket; the session closes it.
    :param protocol: a :class:`wirespeed.sansio.ClientProtocol` or
        :class:`wirespeed.sansio.ServerProtocol` in the CONNECTING state. For a
        client, the opening request must already be queued with
        ``send_request``; :meth:`run` writes it.
    :param echo: send every complete message back to the peer.
    :param name: label for diagnostics on standard error.
    """

    def __init__(self, sock: socket.socket, protocol: Any, *, echo: bool, name: str) -> None:
        self.sock = sock
        self.protocol = protocol
        self.echo = echo
        self.name = name
        #: Complete messages received, as ``(opcode, payload)`` pairs.
        self.messages: List[Tuple[Opcode, bytes]] = []
        #: The opening handshake event (``Request`` or ``Response``), once received.
        self.handshake: Optional[Any] = None
        self._message_opcode: Optional[Opcode] = None
        self._fragments: List[bytes] = []
        self._eof_sent = False

    # Main loop

    def run(self) -> None:
        """Exchange data until the connection is closed, then close the socket."""
        try:
            self._run()
        except Exception:
            log(f"{self.name}: unexpected error\n{traceback.format_exc().rstrip()}")
        finally:
            self.sock.close()

    def _run(self) -> None:
        protocol = self.protocol
        sock = self.sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._flush():
            return
        while True:
            closing = protocol.close_expected()
            sock.settimeout(CLOSE_TIMEOUT if closing else IDLE_TIMEOUT)
            try:
                data = sock.recv(RECV_SIZE)
            except socket.timeout:
                if closing:
                    log(f"{self.name}: peer didn't close TCP within {CLOSE_TIMEOUT}s")
                else:
                    log(f"{self.name}: no data for {IDLE_TIMEOUT}s, giving up")
                return
            except OSError:
                # A reset is the end of the stream too, only less polite.
                data = b""
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            # Answers to pings and close frames are queued already: send them
            # before echoing anything, as the protocol produced them first.
            if not self._flush():
                return
            self._handle_events(protocol.events_received())
            if not self._flush():
                return
            if not data:
                return

    def _flush(self) -> bool:
        """Write what the protocol has to send; return False if the socket broke."""
        for chunk in self.protocol.data_to_send():
            if chunk == SEND_EOF:
                self._half_close()
                continue
            try:
                self.sock.sendall(chunk)
            except OSError as exc:
                # The peer is gone: nothing more can be said or heard.
                log(f"{self.name}: write failed: {exc!r}")
                return False
        return True

    def _half_close(self) -> None:
        """Send EOF (a TCP FIN), once."""
        if self._eof_sent:
            return
        self._eof_sent = True
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            # The peer closed the connection entirely already (ENOTCONN):
            # there is nobody left to tell that we are done.
            pass

    # Events

    def _handle_events(self, events: List[Any]) -> None:
        for event in events:
            if isinstance(event, Frame):
                self._handle_frame(event)
            else:
                self.handshake = event
                self.handle_handshake(event)

    def handle_handshake(self, event: Any) -> None:
        """React to the opening handshake event; subclasses override this."""

    def _handle_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode == Opcode.TEXT or opcode == Opcode.BINARY:
            self._message_opcode = opcode
            self._fragments = [frame.data]
        elif opcode == Opcode.CONT:
            if self._message_opcode is None:
                # The protocol must reject this frame before it gets here.
                log(f"{self.name}: continuation frame outside a message was delivered")
                return
            self._fragments.append(frame.data)
        else:
            return
        if not frame.fin:
            return
        message_opcode = self._message_opcode
        data = b"".join(self._fragments)
        self._message_opcode = None
        self._fragments = []
        self._handle_message(message_opcode, data)

    def _handle_message(self, opcode: Opcode, data: bytes) -> None:
        self.messages.append((opcode, data))
        if opcode == Opcode.TEXT:
            try:
                data.decode()
            except UnicodeDecodeError as exc:
                log(f"{self.name}: invalid UTF-8 text message was delivered: {exc}")
        protocol = self.protocol
        # A message may arrive together with the close frame that follows it;
        # once the closing handshake has started, nothing more may be sent.
        if not self.echo or protocol.state != State.OPEN:
            return
        if opcode == Opcode.TEXT:
            protocol.send_text(data)
        else:
            protocol.send_binary(data)
