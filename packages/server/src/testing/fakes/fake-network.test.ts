/** The in-memory network driver keeps the NetworkDriver contract (testing/contracts/network-contract.ts). */
import { networkContract } from "../contracts/network-contract.js";
import { FakeNetHost, FakeNetwork } from "./fake-network.js";

const ECHO = { name: "echo.test", address: "203.0.113.7", port: 7000 };
const OTHER = { name: "other.test", address: "198.51.100.8" };

networkContract("in-memory fake", async () => {
  // As the integration subject's daemon: the fake internet sits in documentation ranges, opened.
  const host = new FakeNetHost();
  const make = () => new FakeNetwork({ host, netOpen: ["documentation"], names: { [ECHO.name]: [ECHO.address], [OTHER.name]: [OTHER.address] } });
  const driver = make();
  // The fake internet's TCP echo (testing/fake-internet-server.ts): a greeting, then every byte back.
  for (const address of [ECHO.address, OTHER.address])
    driver.serveOutside(address, ECHO.port, (sock) => {
      sock.write(`echo from ${address}\n`);
      sock.pipe(sock);
    });
  const subject = {
    driver,
    echo: ECHO,
    other: OTHER,
    listenInside: async (id: string, _attachment: unknown, port: number) => {
      const stop = subject.driver.listen(id, port, (sock) => sock.pipe(sock));
      return async () => stop();
    },
    async restart(keep: string[]) {
      await subject.driver.detach();
      const next = make();
      await next.start(keep);
      subject.driver = next;
    },
    dispose: () => subject.driver.close(),
  };
  return subject;
});
