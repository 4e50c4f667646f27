"""A program written for websocket-client, running on wirespeed.sync.

Only the import changed: ``import websocket`` became
``import wirespeed.sync as websocket``. Everything below ``# --- the
websocket-client program ---`` is plain websocket-client code: a
``WebSocketApp`` with every callback, then a ``create_connection`` loop.

Run it against any echo server::

    python examples/websocket_client_program.py ws://127.0.0.1:8765/

Without an argument it starts a local echo server (wirespeed.sync.serve) on
a free port of 127.0.0.1 first. ``--websocket-client`` runs the very same
code on websocket-client itself, for comparison.
"""

from __future__ import annotations

import sys
import threading

if "--websocket-client" in sys.argv:
    sys.argv.remove("--websocket-client")
    import websocket
else:
    import wirespeed.sync as websocket  # was: import websocket

# --- the websocket-client program ---

events = []


def on_open(ws):
    events.append("open")
    print("opened")
    ws.send("Hello, World")
    ws.send(b"\x00\x01\x02", websocket.ABNF.OPCODE_BINARY)


def on_message(ws, message):
    events.append("message")
    print("message:", repr(message))
    if isinstance(message, bytes):
        ws.close()


def on_data(ws, data, opcode, fin):
    events.append("data")


def on_error(ws, error):
    events.append("error")
    print("error:", error)


def on_close(ws, close_status_code, close_msg):
    events.append("close")
    print("closed:", close_status_code, close_msg)


def on_ping(ws, message):
    events.append("ping")


def on_pong(ws, message):
    events.append("pong")


def on_cont_message(ws, message, fin):
    events.append("cont")


def on_reconnect(ws):
    events.append("reconnect")


def run_app(url):
    app = websocket.WebSocketApp(
        url,
        header={"X-Example": "1"},
        on_open=on_open,
        on_reconnect=on_reconnect,
        on_message=on_message,
        on_data=on_data,
        on_error=on_error,
        on_close=on_close,
        on_ping=on_ping,
        on_pong=on_pong,
        on_cont_message=on_cont_message,
    )
    errored = app.run_forever(ping_interval=10, ping_timeout=5, ping_payload="keepalive")
    print("run_forever returned", errored)


def run_loop(url):
    websocket.setdefaulttimeout(5)
    ws = websocket.create_connection(url, header=["X-Example: 2"])
    print("status:", ws.getstatus())
    for number in range(5):
        ws.send(f"message {number}")
        print("received:", ws.recv())
    ws.ping("are you there?")
    ws.send_binary(b"\xff" * 10)
    opcode, data = ws.recv_data()
    print("binary:", opcode == websocket.ABNF.OPCODE_BINARY, data)
    try:
        ws.close()
    except websocket.WebSocketException as exc:
        print("close failed:", exc)


def main(url):
    run_app(url)
    run_loop(url)
    assert events[0] == "open" and "message" in events and events[-1] == "close", events


# --- end of the websocket-client program ---


def start_echo_server():
    """A local echo server for the demonstration (wirespeed.sync.serve)."""
    from wirespeed.sync import serve

    def echo(connection):
        for message in connection:
            connection.send(message)

    server = serve(echo, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        server, url = start_echo_server()
        try:
            main(url)
        finally:
            server.shutdown()
