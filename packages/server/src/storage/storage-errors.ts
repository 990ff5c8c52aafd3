/**
 * Errors of the volume storage backend. They are Atoll errors (the one root class) with the API
 * code they answer with and `details` for the error body.
 */
import { AtollError } from "atoll/contract";

/** The volume's backing image does not exist. */
export class VolumeBackingMissingError extends AtollError {
  constructor(volumeId: string, options?: ErrorOptions) {
    super("VOLUME_NOT_FOUND", `volume ${volumeId} has no backing image on this host`, { volumeId }, options);
  }
}

/** `create` for an id whose image already exists. */
export class VolumeBackingExistsError extends AtollError {
  constructor(volumeId: string) {
    super("VOLUME_NAME_TAKEN", `volume ${volumeId} already has a backing image`, { volumeId });
  }
}

/** `delete` of a volume that is still acquired (mounted) or whose loop device lingers. */
export class VolumeAcquiredError extends AtollError {
  constructor(volumeId: string, references: number) {
    super("VOLUME_IN_USE", `volume ${volumeId} is mounted (${references} reference(s)); detach it from every sandbox first`, {
      volumeId,
      references,
    });
  }
}

/**
 * The volume's previous mount is still draining (a lazy unmount waits for a process that holds
 * a file on it), so it cannot be mounted again or deleted yet.
 */
export class VolumeStillDetachingError extends AtollError {
  constructor(volumeId: string, device: string, options?: ErrorOptions) {
    super(
      "VOLUME_BUSY",
      `volume ${volumeId} is still held open on ${device} by a process that had it before; close it or try again shortly`,
      { volumeId, device },
      options,
    );
  }
}

/** `deleteSnapshot` of a snapshot that is mounted (read-only in sandboxes). */
export class SnapshotAcquiredError extends AtollError {
  constructor(snapshotId: string, references: number) {
    super("SNAPSHOT_IN_USE", `snapshot ${snapshotId} is mounted (${references} reference(s)); detach it from every sandbox first`, {
      snapshotId,
      references,
    });
  }
}

/** `snapshot` for an id whose image already exists. */
export class SnapshotBackingExistsError extends AtollError {
  constructor(snapshotId: string) {
    super("SNAPSHOT_NAME_TAKEN", `snapshot ${snapshotId} already has an image`, { snapshotId });
  }
}
