#!/usr/bin/env python3
"""A virtual FeliCa card for vsmartcard's vpcd reader driver, read as a Sony PaSoRi shows one.

Usage: vfelica.py PORT [HOST]  (HOST defaults to 127.0.0.1; PORT is the reader slot's vpcd port)

Commands on stdin, one per line; each is answered with "ok" (or "error: ...") on stdout once done:
  insert IDM PMM   connect to vpcd and present a card (IDm and PMm: 16 hex digits each)
  remove           disconnect, so the reader shows no card
  quit             disconnect and exit

vpcd protocol: every message is a 2-byte big-endian length and a payload. A 1-byte payload is
control (0 power off, 1 power on, 2 reset, 4 get ATR; only get ATR is answered); a longer one is a
command APDU, answered with a response APDU.
"""

import socket
import struct
import sys
import threading

ATR = bytes.fromhex("3B8F8001804F0CA0000003061100" "3B0000000042")
GET_IDM = bytes.fromhex("FFCA000000")
GET_PMM = bytes.fromhex("FFCA010000")
OK = b"\x90\x00"
WRONG_P1P2 = b"\x6a\x81"


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def send(sock, payload):
    sock.sendall(struct.pack(">H", len(payload)) + payload)


def answer(payload, idm, pmm):
    """The reply to one vpcd message, or None for control messages without one."""
    if len(payload) == 1:
        return ATR if payload[0] == 4 else None
    if payload == GET_IDM:
        return idm + OK
    if payload == GET_PMM:
        return pmm + OK
    return WRONG_P1P2


def serve(sock, idm, pmm):
    try:
        while True:
            header = recv_exact(sock, 2)
            if header is None:
                return
            (length,) = struct.unpack(">H", header)
            payload = recv_exact(sock, length)
            if payload is None:
                return
            reply = answer(payload, idm, pmm)
            if reply is not None:
                send(sock, reply)
    except OSError:
        return  # removed: the socket was shut down under us


class Card:
    def __init__(self, host, port):
        self.address = (host, port)
        self.sock = None
        self.thread = None

    def insert(self, idm_hex, pmm_hex):
        idm, pmm = bytes.fromhex(idm_hex), bytes.fromhex(pmm_hex)
        if len(idm) != 8 or len(pmm) != 8:
            raise ValueError("IDm and PMm are 8 bytes (16 hex digits) each")
        self.remove()
        self.sock = socket.create_connection(self.address, timeout=10)
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=serve, args=(self.sock, idm, pmm), daemon=True)
        self.thread.start()

    def remove(self):
        if self.sock is None:
            return
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join()
        self.sock.close()
        self.sock = None
        self.thread = None


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    card = Card(sys.argv[2] if len(sys.argv) == 3 else "127.0.0.1", int(sys.argv[1]))
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "insert" and len(words) == 3:
                card.insert(words[1], words[2])
            elif words[0] == "remove" and len(words) == 1:
                card.remove()
            elif words[0] == "quit":
                card.remove()
                print("ok", flush=True)
                return
            else:
                raise ValueError(f"unknown command {line.strip()!r}")
            print("ok", flush=True)
        except (OSError, ValueError) as e:
            print(f"error: {e}", flush=True)
    card.remove()


if __name__ == "__main__":
    main()
