/**
 * How many inodes (files, directories, symlinks) an ext4 filesystem of a given size gets.
 *
 * ext4's default, one inode per 16 KiB, gives a 1 GiB volume 65,536 files: an agent's
 * `node_modules` or a Python environment runs out of inodes (ENOSPC) with most bytes free.
 * With 4 KiB blocks every non-empty file takes at least one block, so one inode per 4 KiB is as
 * many as small files can use. Atoll gives the first GiB that density and the rest ext4's
 * default: every filesystem of 1 GiB or more gets 196,608 inodes more than the default, which
 * costs 48 MiB of inode tables (256 bytes each), whatever its size; smaller ones proportionally
 * less.
 *
 *   size     inodes       (ext4 default)
 *   64 MiB   16,384       16,384 (mke2fs's own ratio for small filesystems)
 *   1 GiB    262,144      65,536
 *   5 GiB    524,288      327,680
 *   10 GiB   851,968      655,360
 *   20 GiB   1,507,328    1,310,720
 *
 * mkfs and e2fsck times do not change measurably (docs/volumes.md). The count is fixed when the
 * filesystem is made: ext4 cannot add inodes to an existing filesystem.
 */

/** The part of a filesystem that gets one inode per DENSE_BYTES_PER_INODE. */
export const DENSE_PART_BYTES = 2 ** 30;
/** One inode per block: as many as small files can use. */
export const DENSE_BYTES_PER_INODE = 4096;
/** ext4's default ratio, for the rest. */
export const DEFAULT_BYTES_PER_INODE = 16384;

/**
 * The inode count for an ext4 filesystem of `sizeBytes` (passed to `mkfs.ext4 -N`, which rounds
 * it up to fill whole block groups).
 *
 * @example inodeCountFor(2 ** 30) === 262_144
 */
export function inodeCountFor(sizeBytes: number): number {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    throw new RangeError(`filesystem size must be a positive integer of bytes, got ${sizeBytes}`);
  }
  const dense = Math.floor(Math.min(sizeBytes, DENSE_PART_BYTES) / DENSE_BYTES_PER_INODE);
  const rest = Math.floor(Math.max(0, sizeBytes - DENSE_PART_BYTES) / DEFAULT_BYTES_PER_INODE);
  return Math.max(1, dense + rest);
}
