#!/bin/sh
# Metalyard's lab installer: the /init of a busybox initramfs. It reads its orders from the kernel
# command line (metalyard.api=<base URL of this install> metalyard.mode=install|wipe|discover), claims
# the run from the address DHCP gave it (POST $API/claim: the phase's secret, handed out once), fetches
# its metadata, does the work, reports each step and powers off. Every network call is bounded by `timeout`.
# The same init is the lab operating system's (metalyard.mode=firstboot, booted from the disk): it
# reads where to call home from the last MiB of the disk, where the installer left it (as a real
# installer leaves cloud-init its phone-home URL), calls home and keeps running.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec >/dev/console 2>&1 </dev/console

say() { echo "installer: $*"; }
halt() { sync; say "powering off"; poweroff -f; sleep 30; }

API="" SECRET="" MODE=install
for word in $(cat /proc/cmdline); do
  case "$word" in
    metalyard.api=*) API="${word#metalyard.api=}" ;;
    metalyard.secret=*) SECRET="${word#metalyard.secret=}" ;;
    metalyard.mode=*) MODE="${word#metalyard.mode=}" ;;
  esac
done

# json_escape: make a string safe inside a JSON string literal.
json_escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr '\n\t' '  '; }

call() {  # call PATH [JSON-BODY]: POST (with a body) or GET with the install's secret; prints the answer
  if [ -n "$2" ]; then
    timeout 30 wget -q -O - --header "X-Metalyard-Secret: $SECRET" --header "Content-Type: application/json" \
      --post-data "$2" "$API/$1"
  else
    timeout 30 wget -q -O - --header "X-Metalyard-Secret: $SECRET" "$API/$1"
  fi
}
event() { call events "{\"type\": \"$1\", \"body\": \"$(json_escape "$2")\"}" >/dev/null || say "could not post event $1"; }
fail() { say "FAILED: $1"; call failure "{\"reason\": \"$(json_escape "$1")\"}" >/dev/null; halt; }

for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net virtio_blk; do
  insmod "/lib/modules/$m.ko" || say "insmod $m failed"
done
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -q -n -t 10 -T 1 -s /dhcp.script || { say "no DHCP lease"; halt; }
if [ "$MODE" = firstboot ]; then
  for word in $(dd if=/dev/vda bs=1M skip="$(( $(blockdev --getsize64 /dev/vda) / 1048576 - 1 ))" count=1 2>/dev/null \
                | head -c 4096 | tr -d '\000' | head -n 1); do
    case "$word" in
      metalyard.api=*) API="${word#metalyard.api=}" ;;
      metalyard.secret=*) SECRET="${word#metalyard.secret=}" ;;
    esac
  done
  [ -n "$API" ] && [ -n "$SECRET" ] || { say "no phone-home settings on /dev/vda"; halt; }
  say "first boot of the installed system, calling home to $API"
  for attempt in 1 2 3 4 5 6 7 8 9 10; do  # as cloud-init's phone_home: a few tries, then give up
    call phone-home '{"state": "booted"}' >/dev/null && { say "phoned home"; break; }
    say "phone-home attempt $attempt failed"; sleep 2
  done
  while true; do sleep 3600; done
fi

[ -n "$API" ] || { say "no metalyard.api= on the kernel command line"; halt; }
say "mode $MODE, talking to $API"
case "$API" in
  */machine/*)  # an install run: claim it (once) for this phase's secret
    CLAIM=$(timeout 30 wget -q -O - --header "Content-Type: application/json" --post-data '{}' "$API/claim") \
      || { say "could not claim the run at $API/claim"; halt; }
    SECRET=$(printf '%s' "$CLAIM" | sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p')
    [ -n "$SECRET" ] || { say "the claim gave no secret"; halt; } ;;
esac

if [ "$MODE" = discover ]; then
  cpus=$(grep -c '^processor' /proc/cpuinfo)
  model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
  disks=""
  for d in /sys/block/vd* /sys/block/sd* /sys/block/nvme*; do
    [ -e "$d/size" ] || continue
    disks="$disks{\"name\": \"${d##*/}\", \"size_gb\": $(( $(cat "$d/size") * 512 / 1000000000 )), \"type\": \"ssd\", \"serial\": \"$(cat "$d/serial" 2>/dev/null)\"},"
  done
  nics=""
  for n in /sys/class/net/*; do
    [ "${n##*/}" = lo ] && continue
    nics="$nics{\"name\": \"${n##*/}\", \"mac\": \"$(cat "$n/address")\"},"
  done
  body="{\"cpu\": {\"count\": 1, \"threads\": $cpus, \"model\": \"$(json_escape "$model")\"}, \"ram_gb\": $(( (mem_kb + 524288) / 1048576 )), \"disks\": [${disks%,}], \"nics\": [${nics%,}]}"
  call inventory "$body" >/dev/null || say "could not post the inventory"
  halt
fi

META=$(call metadata) || fail "could not read metadata from $API/metadata"
event provisioning.104 "Connected to magic install system"
field() { printf '%s' "$META" | sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p"; }
number() { printf '%s' "$META" | sed -n "s/.*\"$1\": *\\([0-9][0-9]*\\).*/\\1/p"; }
if [ "$MODE" = rescue ]; then
  # The rescue system: in memory, the disk untouched. The device's addresses and SSH keys are set up as
  # in its installed system, and a shell runs on the serial console (the SOS console).
  printf '%s' "$META" | sed 's/"address": "\([^"]*\)", "gateway": "[^"]*", "network": "[^"]*", "netmask": "[^"]*", "cidr": \([0-9]*\)/\n@\1\/\2\n/g' \
    | sed -n 's/^@//p' | while read -r cidr; do ip addr add "$cidr" dev eth0 && say "rescue: address $cidr"; done
  mkdir -p /root/.ssh
  printf '%s' "$META" | sed -n 's/.*"ssh_keys": \[\([^]]*\)\].*/\1/p' | sed 's/", "/\n/g; s/"//g' > /root/.ssh/authorized_keys
  say "rescue: $(grep -c . /root/.ssh/authorized_keys) SSH key(s) allowed"
  call phone-home '{"state": "rescued"}' >/dev/null || say "could not tell the platform the rescue system is up"
  say "rescue system ready; the disk is untouched. Reboot the device to boot from its disk."
  while true; do setsid cttyhack sh -l; sleep 1; done
fi

DISK=/dev/vda
[ -b "$DISK" ] || fail "no disk $DISK"
# The installed system's settings live in the disk's last MiB.
LAST_MIB=$(( $(blockdev --getsize64 "$DISK") / 1048576 - 1 ))

if [ "$MODE" = wipe ]; then
  # Zero the start of the disk (partition tables, file-system headers) and report.
  dd if=/dev/zero of="$DISK" bs=1M count=16 conv=fsync 2>/dev/null || fail "could not wipe $DISK"
  dd if=/dev/zero of="$DISK" bs=1M seek="$LAST_MIB" count=1 conv=fsync 2>/dev/null || fail "could not wipe the end of $DISK"
  event provisioning.105 "Disk $DISK wiped"
  # The attestation: the disks wiped, by serial and size, which the platform checks against its inventory.
  call phone-home "{\"state\": \"wiped\", \"disks\": [{\"serial\": \"$(cat /sys/block/${DISK##*/}/serial 2>/dev/null)\", \"size_bytes\": $(blockdev --getsize64 "$DISK")}]}" \
    >/dev/null || fail "could not phone home"
  halt
fi

# The installed system's own phone-home secret (the first-boot phase's), left on the disk for it.
FIRST_BOOT_SECRET=$(field secret)
[ -n "$FIRST_BOOT_SECRET" ] || fail "metadata lacks first_boot's secret"
IMAGE=$(field image_url)
SUM=$(field image_sha256)
SIZE=$(number image_size)
[ -n "$IMAGE" ] && [ -n "$SUM" ] && [ -n "$SIZE" ] || fail "metadata lacks image_url, image_sha256 or image_size"
[ "$SIZE" -le $(( LAST_MIB * 1048576 )) ] || fail "the image ($SIZE bytes) does not fit on $DISK beside its first-boot settings"
case "$IMAGE" in /*) IMAGE="${API%%/machine/*}$IMAGE" ;; esac
# Reinstall options: preserve_data keeps everything after the root (the image); deprovision_fast skips
# the full wipe; otherwise the whole disk is zeroed before the image is written.
if printf '%s' "$META" | grep -q '"preserve_data": true'; then
  say "preserve_data: the data partitions are kept"
elif printf '%s' "$META" | grep -q '"deprovision_fast": true'; then
  say "deprovision_fast: no full wipe"
else
  dd if=/dev/zero of="$DISK" bs=1M count="$LAST_MIB" conv=fsync 2>/dev/null || fail "could not wipe $DISK"
fi
event provisioning.105 "Server partitions created"
timeout 600 wget -q -O - "$IMAGE" | dd of="$DISK" bs=64k conv=fsync 2>/dev/null || fail "could not write $IMAGE to $DISK"
echo 3 > /proc/sys/vm/drop_caches
GOT=$(head -c "$SIZE" "$DISK" | sha256sum | cut -d' ' -f1)
[ "$GOT" = "$SUM" ] || fail "checksum mismatch on $DISK: expected $SUM, read back $GOT"
dd if=/dev/zero of="$DISK" bs=1M seek="$LAST_MIB" count=1 conv=fsync 2>/dev/null
printf 'metalyard.api=%s metalyard.secret=%s\n' "$API" "$FIRST_BOOT_SECRET" | dd of="$DISK" bs=1M seek="$LAST_MIB" conv=fsync,notrunc 2>/dev/null \
  || fail "could not write the first-boot settings to $DISK"
event provisioning.106 "Operating system packages installed"
event provisioning.107 "Server networking interfaces configured"
event provisioning.108 "Cloud-init packages installed and configured"
event provisioning.109 "Installation finished, rebooting server"
call phone-home '{"state": "installed"}' >/dev/null || fail "could not phone home"
halt
