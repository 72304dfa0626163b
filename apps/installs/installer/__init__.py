"""The installer real machines netboot into: a cloud kernel (`kernel.py`) and a busybox initramfs
(`initramfs.py`, whose init is `init.sh`) that fetches the OS image, writes and verifies it, and
phones home. `manage.py netboot_assets` builds both where the platform serves them."""
