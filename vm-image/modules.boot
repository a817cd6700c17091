# Loaded first, one after the other with their dependencies, before the
# disk and the network are set up.
# ext4, crc32c, the 8250 console, the RTC and devtmpfs are built into
# Debian's cloud kernel.
virtio_pci
virtio_blk
virtio_net
virtio_console
