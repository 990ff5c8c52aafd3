/** The in-memory files driver keeps the FilesDriver contract (testing/contracts/files-contract.ts). */
import { filesContract } from "../contracts/files-contract.js";
import { FakeFiles } from "./fake-files.js";

filesContract("in-memory fake", async () => {
  const driver = new FakeFiles();
  let n = 0;
  return {
    driver,
    async newVolume(spec) {
      const source = `/fake/vol-${n++}`;
      driver.addVolume(source, spec);
      return source;
    },
    dispose: async () => undefined,
  };
});
