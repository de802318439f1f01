"""Bound the kernel's receive queue of a peer's UDP sockets, so media is dropped, not queued.

When the event loop falls behind (the machine is over capacity), RTP packets wait in each ICE
socket's receive buffer; Linux's default (about 200 kB, more with auto-tuning) holds seconds of a
candidate's 40-70 kB/s. Those seconds become seconds of latency on every analysed frame. A small
buffer makes the kernel drop the excess instead: the decoder recovers with NACK and keyframe
requests, and latency stays bounded. `RECEIVE_BUFFER_BYTES` still holds a whole 640x480 keyframe
burst (20-40 kB) with room to spare.

When a backlog builds anyway (the decode guard finds decoded frames over half a second behind their
media clock), `drain_receive_buffers` discards what waits in those buffers: it is the oldest media
(newest wins, as everywhere below the analysis loop), and the keyframe the guard then asks for makes the
stream decodable again. RTCP, STUN and SCTP packets in the buffer go too; each of those protocols
retransmits or repeats.

aiortc does not expose its sockets; this walks its ICE transports to aioice's protocols through
`server/rtc/aiortc_private.py` (checked at worker start).
"""
from __future__ import annotations

import logging
import socket
from typing import Any

from server.rtc.aiortc_private import ice_connection, ice_transports, stun_protocols

log = logging.getLogger(__name__)

#: requested SO_RCVBUF; Linux doubles it for bookkeeping: about 0.5-1 s of one candidate's media.
RECEIVE_BUFFER_BYTES = 48 * 1024


def ice_sockets(pc: Any) -> list[Any]:
    out = []
    for ice in ice_transports(pc):
        for protocol in stun_protocols(ice_connection(ice)):
            transport = getattr(protocol, "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                out.append(sock)
    return out


def bound_receive_buffers(pc: Any, size: int = RECEIVE_BUFFER_BYTES) -> int:
    """Set SO_RCVBUF on every ICE socket of `pc` (after gathering). Returns how many were set."""
    count = 0
    for sock in ice_sockets(pc):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            count += 1
        except OSError as exc:  # a closing socket: nothing to bound
            log.debug("SO_RCVBUF not set: %s", exc)
    return count


#: at most this many datagrams are discarded from one socket per drain (what 2 x RECEIVE_BUFFER_BYTES
#: can hold, with room), so a flood cannot keep the loop in here
MAX_DRAINED_PER_SOCKET = 512


def drain_socket(sock: Any) -> int:
    """Discard the datagrams waiting in `sock`'s receive buffer, without blocking. Returns how many.

    `sock` may be asyncio's `TransportSocket` (what a transport's "socket" extra is), which cannot
    receive: we read through a duplicate of its descriptor, closed after."""
    drained = 0
    try:
        dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
    except OSError as exc:  # closed under us
        log.debug("drain skipped: %s", exc)
        return 0
    with dup:
        while drained < MAX_DRAINED_PER_SOCKET:
            try:
                dup.recv(65536, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # an ICMP error queued on the socket: nothing more to take now
                log.debug("drain stopped: %s", exc)
                break
            drained += 1
    return drained


def drain_receive_buffers(pc: Any) -> int:
    """Discard what waits in every ICE socket of `pc` (see the module docstring). Returns datagrams dropped."""
    return sum(drain_socket(sock) for sock in ice_sockets(pc))
