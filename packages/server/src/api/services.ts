import type { SandboxService } from "../core/sandbox-service.js";
import type { AttachmentService } from "../core/attachment-service.js";
import type { VolumeService } from "../core/volume-service.js";

/** What the routes call. Handlers parse and map; these decide. */
export interface Services {
  sandboxes: SandboxService;
  volumes: VolumeService;
  attachments: AttachmentService;
}
