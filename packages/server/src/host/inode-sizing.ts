/**
 * How many inodes (files, directories, symlinks) an ext4 filesystem of a given size gets.
 *
 * ext4's default, one inode per 16 KiB, gives a 1 GiB volume 65,536 files: an agent's
 * `node_modules` or a Python environment runs out of inodes (ENOSPC) with 99 % of the bytes
 * free. With 4 KiB blocks every non-empty file takes at least one block, so one inode per 4 KiB
 * is the most that can ever be used: a filesystem sized so never runs out of inodes before it
 * runs out of bytes, unless it holds mostly empty files. Each inode costs 256 bytes of inode
 * table (1/16 of the size at that ratio), so the count stops growing at 2^20 (256 MiB of tables,
 * reached at 4 GiB) and picks up again at ext4's default ratio past 16 GiB:
 *
 *   size     inodes       inode tables     (ext4 default)
 *   1 GiB    262,144      64 MiB  (6.3 %)  65,536
 *   4 GiB    1,048,576    256 MiB (6.3 %)  262,144
 *   10 GiB   1,048,576    256 MiB (2.5 %)  655,360
 *   20 GiB   1,310,720    320 MiB (1.6 %)  1,310,720
 *
 * mkfs and e2fsck times hardly change (measured in docs/volumes.md). The count is fixed when
 * the filesystem is made: ext4 cannot add inodes to an existing filesystem.
 */

/** One inode per this many bytes up to DENSE_LIMIT inodes (the block size: the most that can be used). */
export const DENSE_BYTES_PER_INODE = 4096;
/** Where the dense ratio stops: 2^20 inodes (256 MiB of inode tables, a 4 GiB filesystem). */
export const DENSE_LIMIT = 2 ** 20;
/** ext4's default ratio, which bigger filesystems keep. */
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
  const dense = Math.min(Math.floor(sizeBytes / DENSE_BYTES_PER_INODE), DENSE_LIMIT);
  const sparse = Math.floor(sizeBytes / DEFAULT_BYTES_PER_INODE);
  return Math.max(dense, sparse, 1);
}
