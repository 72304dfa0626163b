"""The lab's netbooting machine: a QEMU virtual machine (software emulation) that boots through
iPXE from the platform, plus the tools that make its kernel and its busybox installer initramfs."""
