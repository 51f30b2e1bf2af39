#!/usr/bin/python3
"""Turn TCP segmentation offload off on an interface (ethtool -K IF tso off,
without ethtool). A VM attached by a veth pair (not a TAP) must not hand the
datapath TSO super-frames: like Open vSwitch's userspace datapath on
AF_PACKET or AF_XDP, Rampart's receives whole frames of at most one MTU.
Checksum offload may stay on: the agent completes pending checksums.

offload_off.py IFNAME
"""
import ctypes, fcntl, socket, struct, sys

ETHTOOL_STSO, SIOCETHTOOL = 0x1f, 0x8946
val = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STSO, 0))
fcntl.ioctl(socket.socket(), SIOCETHTOOL, struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(val)))
