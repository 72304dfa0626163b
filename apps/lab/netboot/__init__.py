"""The lab's netbooting machine: a QEMU virtual machine (software emulation) that boots through
iPXE from the platform into the installer (apps/installs/installer), and the OS image it installs."""
