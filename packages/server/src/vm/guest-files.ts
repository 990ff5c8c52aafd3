/**
 * The files test:vm writes into its guest image (docs/testing.md): the initramfs's /init, the
 * systemd unit that runs the host's job, and the script behind it. Kept here as text so the
 * guest recipe's hash covers them: editing one rebuilds the image.
 */

/**
 * /init of the handmade initramfs (the guest's static busybox): loads the modules listed in
 * /modules (virtio-pci, virtio-blk, ext4 and what they need, in order), mounts /dev/vda and
 * switches to systemd. `noinit_itable`: the image is a fresh sparse file, its inode tables read
 * as zeroes already, so the kernel must not spend the guest's emulated CPU zeroing them again.
 */
export const INITRAMFS_INIT = `#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t devtmpfs devtmpfs /dev
while read m; do $B insmod "$m" || echo "initramfs: insmod $m failed"; done < /modules
i=0; while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do $B usleep 50000; i=$((i+1)); done
$B mount -t ext4 -o rw,noinit_itable /dev/vda /newroot || { echo "initramfs: cannot mount /dev/vda"; $B poweroff -f; }
$B umount /proc; $B umount /dev
exec $B switch_root /newroot /sbin/init "$@"
`;

/** The guest's /etc/fstab (the root is remounted with the same options). */
export const FSTAB = "/dev/vda / ext4 rw,noinit_itable,errors=remount-ro 0 1\n";

/** Path of the job runner inside the guest. */
export const JOB_RUNNER_PATH = "/usr/local/sbin/atoll-vm-job";

/**
 * Runs the job the host left on the `job` 9p share: reads job.env (the checkout's host path, the
 * script to run and the test settings), mounts the checkout disk (label atoll-checkout) read-only
 * at that path, runs the script and writes its exit status to job/exit-code.
 */
export const JOB_RUNNER = `#!/bin/bash
set -u
mkdir -p /mnt/job
modprobe -a 9pnet_virtio 9p # udev may not have loaded them yet
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 job /mnt/job || { echo "atoll-vm-job: cannot mount the job share"; exit 1; }
set -a; . /mnt/job/job.env; set +a
mkdir -p "$ATOLL_VM_REPO"
mount -o ro "$(blkid -L atoll-checkout)" "$ATOLL_VM_REPO" || { echo "atoll-vm-job: cannot mount the checkout disk"; exit 1; }
"$ATOLL_VM_REPO/$ATOLL_VM_SCRIPT"
echo "$?" > /mnt/job/exit-code
sync
`;

/** Unit name of the job. */
export const JOB_UNIT_NAME = "atoll-vm-job.service";

/**
 * The job as a systemd service, so the daemon runs as it would on a Debian 12 host: in a cgroup
 * of its own under system.slice, with systemd owning the root of the unified hierarchy. Its
 * output goes to the serial console; the guest powers off when it ends, whatever its status.
 */
export const JOB_UNIT = `[Unit]
Description=Atoll test:vm job from the host
After=basic.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=${JOB_RUNNER_PATH}
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
`;

/** Units that would only cost the emulated CPU time (timers, logins on the console). */
export const MASKED_UNITS = [
  "serial-getty@ttyS0.service",
  "getty@tty1.service",
  "apt-daily.timer",
  "apt-daily-upgrade.timer",
  "e2scrub_all.timer",
  "e2scrub_reap.service",
  "dpkg-db-backup.timer",
  "fstrim.timer",
];
