/**
 * Receives an uploaded image archive (`POST /v1/images/import`) into a file, at most `limit`
 * bytes: a longer body is PAYLOAD_TOO_LARGE and the partial file is removed.
 */
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AtollError, InvalidArgumentError } from "atoll/contract";

/**
 * Writes `body` to the new file `file` (mode 0600) and returns its length.
 *
 * @example const bytes = await receiveArchive(req.body, `${work}/archive`, 8 * 2 ** 30);
 */
export async function receiveArchive(body: Readable, file: string, limit: number): Promise<number> {
  let bytes = 0;
  const bound = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > limit) {
        done(
          new AtollError("PAYLOAD_TOO_LARGE", `The image archive is larger than the ${limit} bytes allowed; import it with a larger --size (sizeGb).`, {
            limitBytes: limit,
          }),
        );
        return;
      }
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, bound, createWriteStream(file, { flags: "wx", mode: 0o600 }));
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
  if (bytes === 0) throw new InvalidArgumentError("The image archive is empty: send it as the request body (application/x-tar or application/octet-stream).");
  return bytes;
}
