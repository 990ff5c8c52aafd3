/**
 * Your first sandbox: create one, run commands, read output, and let `await using` kill it.
 * Run: npm run example -- first-sandbox
 */
import { Sandbox } from "atoll";

await using sandbox = await Sandbox.create({ memory: "512MiB", labels: { example: "first-sandbox" } });
console.log(`sandbox ${sandbox.id} is up`);

// Output streams to this terminal by default.
await sandbox.sh`uname -a && id`;

// Or capture it.
const python = (await sandbox.sh`python3 -c ${"print(6 * 7)"}`.text()).trimEnd();
console.log(`python says ${python}`);

// Interpolated values are quoted for you: this is one argument, spaces, quotes and all.
const file = "notes from 'today'.txt";
await sandbox.sh`echo hello > ${file} && ls -l ${file}`;

// A failing command throws unless .noThrow().
const result = await sandbox.sh`exit 3`.noThrow();
console.log(`exit code ${result.status.code}`);
