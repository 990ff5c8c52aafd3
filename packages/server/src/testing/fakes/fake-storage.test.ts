/** The in-memory storage driver keeps the StorageDriver contract (testing/contracts/storage-contract.ts). */
import { storageContract } from "../contracts/storage-contract.js";
import { FakeStorage } from "./fake-storage.js";

storageContract("in-memory fake", async () => {
  const driver = new FakeStorage({ hostBytes: 64 * 2 ** 30 });
  return {
    driver,
    writeFile: async (source, relPath, data) => driver.writeFile(source, relPath, data),
    readFile: async (source, relPath) => driver.readFile(source, relPath),
    dispose: async () => undefined,
  };
});
