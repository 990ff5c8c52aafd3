/** `volume.fs`: the files of a volume, whether or not any sandbox has it mounted (docs/files.md). */
import { FileSystem } from "./file-system.js";
import type { HttpClient } from "./http-client.js";
import { seg } from "./http-client.js";

/**
 * The files of a volume, attached nowhere or anywhere. Paths are relative to the volume's root
 * ("/" is the root). Operations act as the sandbox user `app`, exactly as in a sandbox that
 * mounts the volume, and see the same data at once (one filesystem); the volume's size limit
 * applies (NO_SPACE).
 *
 * @example
 *   const volume = await Sandbox.getVolume("agent-cache");
 *   await volume.fs.writeTextFile("notes/today.txt", "hello");
 *   await volume.fs.download("/", "./cache-backup");
 */
export class VolumeFs extends FileSystem {
  /** @internal Use `volume.fs`. */
  constructor(http: HttpClient, volumeId: string) {
    super(http, { base: `/v1/volumes/${seg(volumeId)}/fs`, home: "/" });
  }
}
