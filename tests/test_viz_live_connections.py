"""The live server's bounds, with real sockets on 127.0.0.1: a cap on connections (so on
threads), idle connections closed after a timeout, a listen backlog larger than five."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import numpy

from convpool import nn
from convpool.viz.live import LISTEN_BACKLOG, MAX_CONNECTIONS, LiveView


def tiny_view(**kwargs) -> LiveView:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    return LiveView(model, numpy.zeros((1, 1, 8, 8), dtype=numpy.float32), **kwargs)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def state_code(view: LiveView) -> int:
    with urllib.request.urlopen(f"{view.url}state.json", timeout=5) as answer:
        json.loads(answer.read())
        return answer.status


def wait_until(condition, limit: float = 10.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_defaults_bound_the_server():
    assert 1 <= MAX_CONNECTIONS <= 64 and LISTEN_BACKLOG >= 100
    view = tiny_view()
    try:
        assert view.server.request_queue_size == LISTEN_BACKLOG
    finally:
        view.close(linger=0)


def test_500_idle_connections_give_at_most_the_capped_threads_and_are_closed_when_idle():
    before = threading.active_count()
    view = tiny_view(max_connections=8, idle_seconds=1.0)
    sockets: list[socket.socket] = []
    try:
        for _ in range(500):
            sockets.append(connect(view.port))
        time.sleep(0.5)  # let the server accept what it will
        assert threading.active_count() <= before + 1 + 8  # the serving thread and 8 handlers
        refused = 0
        for s in sockets[8:60]:  # the ones past the cap are answered at once and closed
            s.settimeout(5)
            answer = s.recv(200)
            refused += answer.startswith(b"HTTP/1.0 503")
        assert refused >= 40
        held = sockets[0]
        held.settimeout(5)
        began = time.monotonic()
        assert held.recv(200) == b""  # closed by the server for idling ...
        assert time.monotonic() - began < 4  # ... after about idle_seconds
        for s in sockets:
            s.close()
        assert wait_until(lambda: threading.active_count() <= before + 1)
        assert state_code(view) == 200  # and the page is served again
    finally:
        for s in sockets:
            s.close()
        view.close(linger=0)
    assert wait_until(lambda: threading.active_count() <= before)


def test_a_page_is_served_while_connections_come_and_go():
    view = tiny_view(max_connections=4, idle_seconds=5.0)
    try:
        for _ in range(20):
            assert state_code(view) == 200
    finally:
        view.close(linger=0)
