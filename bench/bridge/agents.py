#!/usr/bin/env python3
"""Agent-side helpers of scripts/bench-bridge.

  agents.py file N URI_HOST_PORT          print N agents as YAML for `flowd import agents`
  agents.py state API STATE FIRST LAST    set agents FIRST..LAST to ready or paused through the API
  agents.py audio FILE                    write 1 s of a 440 Hz tone as raw PCMA
  agents.py latency API LISTEN FIRST LAST measure agent ready to INVITE arrival

Agent ids are `a00001`, `a00002`, ... The API token is read from
TOK_API_TOKEN, as flowd reads it.

`latency` makes agents FIRST..LAST ready one at a time, each with its own
URI at a UDP socket on LISTEN that this program owns. For each agent it
takes the monotonic time just before the POST of the state change and
the time the first INVITE for that agent arrived, and answers every
INVITE with 180 Ringing so flowd stops retransmitting it and the agent
stays ringing (`agents.ring_timeout` in bench/bridge/tok.yaml is 10
minutes). So every agent rings for one waiting caller, and the next agent
gets the next caller. The agents must be logged in (paused) before the
callers arrive, because a queue rejects callers that no logged-in agent
could serve.
"""

import http.client
import json
import math
import os
import socket
import sys
import time
import urllib.parse


def agent_id(number):
    return f"a{number:05d}"


def write_agents(count, host_port):
    print("agents:")
    for number in range(1, count + 1):
        agent = agent_id(number)
        print(f"  - id: {agent}")
        print(f"    uri: \"sip:{agent}@{host_port}\"")


class Api:
    """A keep-alive connection to flowd's agent API."""

    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        token = os.environ.get("TOK_API_TOKEN", "")
        if not token:
            sys.exit("agents.py: error: TOK_API_TOKEN is not set; export the token flowd uses")
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        }

    def set_state(self, agent, state):
        change = {"state": state}
        if state == "paused":
            change["reason"] = "benchmark"
        body = json.dumps(change)
        self.connection.request("POST", f"/api/v1/agents/{agent}/state", body, self.headers)
        response = self.connection.getresponse()
        text = response.read()
        if response.status != 200:
            sys.exit(f"agents.py: error: setting agent {agent} to {state} failed with HTTP {response.status}: {text!r}")


def set_states(base, state, first, last):
    if state not in ("ready", "paused"):
        sys.exit(f"agents.py: error: invalid state `{state}`; use ready or paused")
    api = Api(base)
    for number in range(first, last + 1):
        api.set_state(agent_id(number), state)


def write_audio(path):
    # G.711 A-law by the segment table of ITU-T G.711, from 16-bit samples.
    def alaw(sample):
        sign = 0x80 if sample >= 0 else 0x00
        magnitude = min(abs(sample), 32635) >> 3
        if magnitude < 32:
            code = magnitude >> 1
        else:
            segment = magnitude.bit_length() - 5
            code = (segment << 4) | ((magnitude >> segment) & 0x0F)
        return (code | sign) ^ 0x55

    samples = (int(8000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(8000))
    with open(path, "wb") as output:
        output.write(bytes(alaw(sample) for sample in samples))


def request_uri_user(message):
    """Return the user of an INVITE's request URI, or None for other messages."""
    first_line = message.split(b"\r\n", 1)[0].decode("latin-1")
    parts = first_line.split(" ")
    if len(parts) != 3 or parts[0] != "INVITE" or not parts[1].startswith("sip:"):
        return None
    return parts[1][4:].split("@", 1)[0]


def ringing(message):
    """Build a 180 Ringing for an INVITE from its Via, From, To, Call-ID and CSeq."""
    lines = message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    copied = []
    for line in lines:
        name = line.split(b":", 1)[0].strip().lower()
        if name in (b"via", b"v", b"from", b"f", b"call-id", b"i", b"cseq"):
            copied.append(line)
        elif name in (b"to", b"t"):
            copied.append(line if b";tag=" in line else line + b";tag=bench")
    return b"SIP/2.0 180 Ringing\r\n" + b"\r\n".join(copied) + b"\r\nContent-Length: 0\r\n\r\n"


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)
    return ordered[max(index, 0)]


def measure_latency(base, listen, first, last):
    host, port = listen.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, int(port)))
    api = Api(base)
    arrivals = {}

    def receive(deadline):
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            message, source = sock.recvfrom(65535)
        except socket.timeout:
            return
        arrived = time.monotonic()
        user = request_uri_user(message)
        if user is None:
            return
        arrivals.setdefault(user, arrived)
        sock.sendto(ringing(message), source)

    to_invite = []
    to_response = []
    for number in range(first, last + 1):
        agent = agent_id(number)
        started = time.monotonic()
        api.set_state(agent, "ready")
        responded = time.monotonic()
        deadline = started + 10
        while agent not in arrivals and time.monotonic() < deadline:
            receive(deadline)
        if agent not in arrivals:
            sys.exit(f"agents.py: error: no INVITE for agent {agent} within 10 s of making it ready")
        to_invite.append((arrivals[agent] - started) * 1000)
        to_response.append((responded - started) * 1000)
        # Reply to retransmitted INVITEs and let the previous offer settle.
        settle = time.monotonic() + 0.1
        while time.monotonic() < settle:
            receive(settle)

    for name, values in (("invite", to_invite), ("api_response", to_response)):
        print(
            f"{name}: n={len(values)} p50_ms={percentile(values, 0.5):.2f} "
            f"p99_ms={percentile(values, 0.99):.2f} min_ms={min(values):.2f} max_ms={max(values):.2f}"
        )


def main(arguments):
    if len(arguments) == 3 and arguments[0] == "file":
        write_agents(int(arguments[1]), arguments[2])
    elif len(arguments) == 5 and arguments[0] == "state":
        set_states(arguments[1], arguments[2], int(arguments[3]), int(arguments[4]))
    elif len(arguments) == 2 and arguments[0] == "audio":
        write_audio(arguments[1])
    elif len(arguments) == 5 and arguments[0] == "latency":
        measure_latency(arguments[1], arguments[2], int(arguments[3]), int(arguments[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
