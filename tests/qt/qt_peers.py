"""Independent clients for the Qt tests, run as separate processes (`python qt_peers.py MODE`).

The bridge under test runs on a QApplication in the pytest process; these peers must not
share its event loop, its threads or its interpreter, so each runs as its own process and
prints one JSON line of what it saw on stdout:

* `http PORT` — aiohttp (8 concurrent keep-alive connections) and requests: tracking PUTs,
  reads, a bad request; reports statuses and the bodies that matter.
* `igtl PORT --rate HZ --seconds S --device NAME` — pyigtl streams TRANSFORM messages at a
  fixed rate (absolute schedule); the translation's x is the message's sequence number, so
  the test can tell which one was applied last.
* `mqtt PORT ROOT` — paho publishes a transform to `ROOT/transform/Needle/set` (QoS 1).
* `request METHOD URL` — one request with requests; reports the status and body.
* `hold HTTP_PORT IGTL_PORT` — opens one keep-alive HTTP connection and one IGTL
  connection, prints `ready`, then reports which ones the server closed (stdin EOF ends it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from typing import Any


def http_peer(port: int) -> dict[str, Any]:
    import aiohttp
    import requests

    base = f"http://127.0.0.1:{port}"

    async def hammer() -> list[int]:
        statuses: list[int] = []
        async with aiohttp.ClientSession() as session:

            async def worker(number: int) -> None:
                for step in range(25):
                    url = f"{base}/slicer/tracking?p={number},{step},0"
                    async with session.put(url) as response:
                        await response.read()
                        statuses.append(response.status)

            await asyncio.gather(*(worker(number) for number in range(8)))
        return statuses

    statuses = asyncio.run(hammer())
    with requests.Session() as session:
        final = session.put(f"{base}/slicer/tracking?p=7,8,9")
        ids = session.get(f"{base}/slicer/mrml/ids").json()
        names = session.get(f"{base}/slicer/mrml/names").json()
        bad = session.put(f"{base}/slicer/tracking?p=1,2")
    return {
        "statuses": sorted(set(statuses)),
        "count": len(statuses),
        "final": final.status_code,
        "ids": ids,
        "names": names,
        "bad": bad.status_code,
        "bad_body": bad.json(),
    }


def igtl_peer(port: int, rate: float, seconds: float, device: str) -> dict[str, Any]:
    import numpy as np
    import pyigtl

    client = pyigtl.OpenIGTLinkClient(host="127.0.0.1", port=port, start_now=True)
    deadline = time.monotonic() + 10.0
    while not client.is_connected():
        if time.monotonic() > deadline:
            raise SystemExit("pyigtl did not connect")
        time.sleep(0.01)
    period = 1.0 / rate
    started = time.monotonic()
    sent = 0
    while True:
        due = started + sent * period
        now = time.monotonic()
        if now - started >= seconds:
            break
        if now < due:
            time.sleep(due - now)
        matrix = np.eye(4)
        matrix[0, 3] = float(sent)
        client.send_message(pyigtl.TransformMessage(matrix, device_name=device), wait=False)
        sent += 1
    time.sleep(0.3)  # let pyigtl's thread flush its queue
    client.stop()
    return {"sent": sent, "last": float(sent - 1), "seconds": time.monotonic() - started}


def mqtt_peer(port: int, root: str) -> dict[str, Any]:
    import paho.mqtt.client as paho

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="qt-test-peer")
    client.connect("127.0.0.1", port)
    client.loop_start()
    matrix = [[1, 0, 0, 11], [0, 1, 0, 22], [0, 0, 1, 33], [0, 0, 0, 1]]
    info = client.publish(f"{root}/transform/Needle/set", json.dumps(matrix), qos=1)
    info.wait_for_publish(timeout=10)
    client.disconnect()
    client.loop_stop()
    return {"published": info.is_published()}


def request_peer(method: str, url: str) -> dict[str, Any]:
    import requests

    response = requests.request(method, url, timeout=10)
    return {"status": response.status_code, "body": response.text}


def hold_peer(http_port: int, igtl_port: int) -> dict[str, Any]:
    http = socket.create_connection(("127.0.0.1", http_port))
    http.sendall(
        b"GET /slicer/mrml/ids HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
    )
    answer = http.recv(65536)
    igtl = socket.create_connection(("127.0.0.1", igtl_port))
    print("ready", flush=True)
    closed: dict[str, bool] = {}
    for name, sock in (("http", http), ("igtl", igtl)):
        sock.settimeout(10.0)
        try:
            while sock.recv(65536):
                pass
            closed[name] = True
        except (TimeoutError, OSError):
            closed[name] = False
    return {"answered": answer.startswith(b"HTTP/1.1 200"), "closed": closed}


def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    """The test side: a peer's JSON report (its last stdout line); fails if it failed."""
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, f"peer failed ({process.returncode}): {output}"
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    modes = parser.add_subparsers(dest="mode", required=True)
    http = modes.add_parser("http")
    http.add_argument("port", type=int)
    igtl = modes.add_parser("igtl")
    igtl.add_argument("port", type=int)
    igtl.add_argument("--rate", type=float, default=1000.0)
    igtl.add_argument("--seconds", type=float, default=1.0)
    igtl.add_argument("--device", default="Needle")
    mqtt = modes.add_parser("mqtt")
    mqtt.add_argument("port", type=int)
    mqtt.add_argument("root")
    request = modes.add_parser("request")
    request.add_argument("method")
    request.add_argument("url")
    hold = modes.add_parser("hold")
    hold.add_argument("http_port", type=int)
    hold.add_argument("igtl_port", type=int)
    args = parser.parse_args()
    if args.mode == "http":
        report = http_peer(args.port)
    elif args.mode == "igtl":
        report = igtl_peer(args.port, args.rate, args.seconds, args.device)
    elif args.mode == "mqtt":
        report = mqtt_peer(args.port, args.root)
    elif args.mode == "request":
        report = request_peer(args.method, args.url)
    else:
        report = hold_peer(args.http_port, args.igtl_port)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    sys.exit(main())
