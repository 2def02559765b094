#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Sends packets an e2e test built itself, from inside the namespace it runs in (the test starts it with nsenter):
#   raw HEX...               each HEX an IPv4 packet, sent as is through an IPPROTO_RAW socket (the header, its
#                            source address included, leaves unchanged; the kernel adds the link layer)
#   udp ADDR PORT HEX...     each HEX the payload of one datagram of an ordinary UDP socket (no privilege needed)
# Bounded: one send per argument, no retries. Exit 0 once every packet was handed to the kernel.
import socket
import sys


def main(argv):
    if len(argv) >= 2 and argv[0] == "raw":
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        for h in argv[1:]:
            pkt = bytes.fromhex(h)
            s.sendto(pkt, (socket.inet_ntoa(pkt[16:20]), 0))
        return 0
    if len(argv) >= 4 and argv[0] == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for h in argv[3:]:
            s.sendto(bytes.fromhex(h), (argv[1], int(argv[2])))
        return 0
    sys.stderr.write("usage: send-packets.py raw HEX... | udp ADDR PORT HEX...\n")
    return 2


sys.exit(main(sys.argv[1:]))
