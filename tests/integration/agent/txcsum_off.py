#!/usr/bin/python3
"""Turn transmit checksum offload off on an interface (ethtool -K IF tx off,
without ethtool): the kernel then fills in TCP/UDP checksums itself.

txcsum_off.py IFNAME
"""
import ctypes, fcntl, socket, struct, sys

ETHTOOL_STXCSUM, SIOCETHTOOL = 0x17, 0x8946
val = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
fcntl.ioctl(socket.socket(), SIOCETHTOOL, struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(val)))
