/** The in-memory runtime keeps the RuntimeDriver contract (testing/contracts/runtime-contract.ts). */
import { runtimeContract } from "../contracts/runtime-contract.js";
import { FakeRuntime } from "./fake-runtime.js";

runtimeContract("in-memory fake", async () => {
  const sources = new Map<string, Record<string, string>>();
  const driver = new FakeRuntime({
    files: { readFile: (source, rel) => (sources.get(source)?.[rel] === undefined ? undefined : Buffer.from(sources.get(source)![rel]!)) },
  });
  return {
    driver,
    spec: (id, mounts) => ({ id, imageRootfs: "/fake-image", limits: { memoryBytes: 2 ** 28, pids: 256, cpuWeight: 100, rootfsBytes: 2 ** 30 }, mounts }),
    async makeSource(files) {
      const source = `/fake-source/${sources.size}`;
      sources.set(source, files);
      return source;
    },
    dispose: async () => void (await driver.cleanupOrphans(new Set())),
  };
});
