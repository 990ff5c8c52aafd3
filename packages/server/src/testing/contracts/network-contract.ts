/**
 * The NetworkDriver contract (core/drivers.ts), as one suite that runs against any driver: the
 * in-memory fake in the unit tier (testing/fakes/fake-network.test.ts) and the Linux driver as
 * root, routed into a fake internet (net/network-contract.itest.ts). What it checks is what
 * core/network-service.ts relies on: attach/release and their errors, the egress policy
 * (allowNet, closed ranges, their updates), connections made from a sandbox's network (to a
 * server inside it, as sandbox.fetch and exposed ports do, and to the outside), resolve, and
 * adoption by a second driver on the same host after the first was dropped (a daemon restart).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { after, before, describe, it } from "node:test";
import { type HostRule, type NetRule, parseNetRule } from "atoll/contract";
import type { NetworkAttachment, NetworkDriver, SecretBinding } from "../../core/drivers.js";
import { containsAddress, setOfCidrs } from "../../core/ip-intervals.js";

/** A driver under test, a TCP echo server outside (reachable when the policy allows) and one inside. */
export interface NetworkSubject {
  driver: NetworkDriver;
  /**
   * An outside TCP echo server (as testing/fake-internet-server.ts's: it first says
   * `echo from <its address>\n`), with a name the resolver answers with its address only.
   */
  echo: { name: string; address: string; port: number };
  /** Another outside name the resolver answers (not the echo server's); nothing listens on echo.port + 1 anywhere outside. */
  other: { name: string; address: string };
  /** Starts a TCP echo server on every address of the sandbox's network at `port`, as a process inside it would. */
  listenInside(id: string, attachment: NetworkAttachment, port: number): Promise<() => Promise<void>>;
  /**
   * A daemon restart: drops `driver` without releasing anything (detach), then makes a second
   * driver on the same host state, started keeping `keep` (netnsPaths); it becomes `driver`.
   */
  restart(keep: string[]): Promise<void>;
  /** Releases what the subject made (called once, after the suite). */
  dispose(): Promise<void>;
}

const rule = (entry: string): NetRule => {
  const r = parseNetRule(entry);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};

/** Sends `text` over the connection; resolves with what came back once it is as long as `expected` (or the peer ended). */
async function echoed(sock: Duplex, text: string, expected = text): Promise<string> {
  const chunks: Buffer[] = [];
  const done = new Promise<string>((resolve, reject) => {
    sock.on("data", (c: Buffer) => {
      chunks.push(Buffer.from(c));
      if (Buffer.concat(chunks).length >= Buffer.byteLength(expected)) {
        resolve(Buffer.concat(chunks).toString());
        sock.destroy();
      }
    });
    sock.on("error", reject);
    sock.on("end", () => resolve(Buffer.concat(chunks).toString()));
  });
  sock.write(text);
  return done;
}

/** Registers the contract tests of one network driver under `describe(name)`. */
export function networkContract(name: string, makeSubject: () => Promise<NetworkSubject>): void {
  describe(`NetworkDriver contract: ${name}`, () => {
    let s: NetworkSubject;
    const attached = new Set<string>();
    const stops: (() => Promise<void>)[] = [];
    const newId = () => `sbx_n${randomBytes(5).toString("hex")}`;
    const attach = async (allowNet: NetRule[] | null, opts: { secrets?: SecretBinding[]; closed?: string[] } = {}) => {
      const id = newId();
      const a = await s.driver.attach(id, { allowNet, secrets: opts.secrets ?? [], closed: opts.closed ?? s.driver.closedRanges([]) });
      attached.add(id);
      return { id, a };
    };
    const reachesEcho = async (id: string) => {
      const sock = await s.driver.connect(id, [s.echo.address], s.echo.port);
      const expected = `echo from ${s.echo.address}\nping`;
      assert.equal(await echoed(sock, "ping", expected), expected);
    };
    const refused = (id: string, addresses: string[], port: number) => assert.rejects(s.driver.connect(id, addresses, port), { code: "FETCH_FAILED" });

    before(async () => {
      s = await makeSubject();
    });
    after(async () => {
      for (const stop of stops) await stop().catch(() => undefined);
      for (const id of attached) await s.driver.release(id).catch(() => undefined);
      await s.dispose();
    });

    it("attach gives each sandbox its own addresses, a namespace and a resolver; no CA without secrets", async () => {
      const one = await attach([]);
      const two = await attach([]);
      assert.notEqual(one.a.ipv4, two.a.ipv4);
      assert.notEqual(one.a.ipv6, two.a.ipv6);
      assert.notEqual(one.a.netnsPath, two.a.netnsPath);
      assert.ok(one.a.netnsPath.startsWith("/"), one.a.netnsPath);
      const resolv = one.a.files.find((f) => f.path === "/etc/resolv.conf");
      assert.match(resolv?.content ?? "", /^nameserver \S+/m);
      assert.equal(one.a.files.length, 1);
      assert.deepEqual(one.a.env, {});
      assert.equal(s.driver.sandboxCa(one.id), undefined);
    });

    it("a sandbox with secrets trusts its own CA: in its files, its env and sandboxCa", async () => {
      const secret: SecretBinding = { name: "TOKEN", placeholder: "atoll-secret-placeholder-1", value: "s3cret", hosts: [rule(s.echo.name) as HostRule] };
      const { id, a } = await attach([rule(s.echo.name)], { secrets: [secret] });
      const ca = s.driver.sandboxCa(id);
      assert.match(ca ?? "", /^-----BEGIN CERTIFICATE-----/);
      assert.ok(
        a.files.some((f) => f.content === ca),
        "the CA is written into the sandbox",
      );
      assert.ok(Object.keys(a.env).length > 0 && Object.values(a.env).every((v) => v.startsWith("/")), JSON.stringify(a.env));
      assert.ok(!JSON.stringify(a).includes("s3cret"), "the secret's value never reaches the sandbox");
    });

    it("attach refuses an id that already has a network and keeps the first one", async () => {
      const { id, a } = await attach([]);
      await assert.rejects(s.driver.attach(id, { allowNet: [], secrets: [], closed: s.driver.closedRanges([]) }), { code: "NETWORK_FAILED" });
      const stop = await s.listenInside(id, a, 3100);
      stops.push(stop);
      assert.equal(await echoed(await s.driver.connect(id, ["127.0.0.1"], 3100), "still here"), "still here");
    });

    it("connect reaches a server inside the sandbox, on loopback and on its own address, whatever allowNet says", async () => {
      const { id, a } = await attach([]);
      stops.push(await s.listenInside(id, a, 3000));
      assert.equal(await echoed(await s.driver.connect(id, ["127.0.0.1", "::1"], 3000), "hello"), "hello");
      assert.equal(await echoed(await s.driver.connect(id, ["::1"], 3000), "six"), "six");
      assert.equal(await echoed(await s.driver.connect(id, [a.ipv4], 3000), "own"), "own");
      // The first address that accepts: one that refuses (closed by allowNet) comes first.
      assert.equal(await echoed(await s.driver.connect(id, [s.echo.address, "127.0.0.1"], 3000), "again"), "again");
    });

    it("connect rejects with FETCH_FAILED where nothing listens, and one sandbox never reaches another's loopback", async () => {
      const one = await attach(null);
      const two = await attach(null);
      stops.push(await s.listenInside(one.id, one.a, 3200));
      await refused(one.id, ["127.0.0.1", "::1"], 3201);
      await refused(two.id, ["127.0.0.1", "::1"], 3200);
      await refused(one.id, [s.echo.address], s.echo.port + 1);
    });

    it("allowNet: [] reaches nothing outside, an IP rule opens its address (and only its port), null opens everything", async () => {
      const none = await attach([]);
      await refused(none.id, [s.echo.address], s.echo.port);
      const ip = await attach([rule(`${s.echo.address}:${s.echo.port}`)]);
      await reachesEcho(ip.id);
      const otherPort = await attach([rule(`${s.echo.address}:${s.echo.port + 1}`)]);
      await refused(otherPort.id, [s.echo.address], s.echo.port);
      const open = await attach(null);
      await reachesEcho(open.id);
    });

    it("setAllowNet replaces the policy for new connections, both ways", async () => {
      const { id } = await attach([]);
      await refused(id, [s.echo.address], s.echo.port);
      await s.driver.setAllowNet(id, [rule(s.echo.address)]);
      await reachesEcho(id);
      await s.driver.setAllowNet(id, []);
      await refused(id, [s.echo.address], s.echo.port);
      await s.driver.setAllowNet(id, null);
      await reachesEcho(id);
    });

    it("resolve follows the policy: a host rule's name resolves and its addresses become reachable; other names do not", async () => {
      const { id } = await attach([rule(s.echo.name)]);
      await refused(id, [s.echo.address], s.echo.port);
      assert.deepEqual(await s.driver.resolve(id, s.echo.name), [s.echo.address]);
      await reachesEcho(id);
      assert.deepEqual(await s.driver.resolve(id, s.other.name), []);
      const open = await attach(null);
      assert.deepEqual(await s.driver.resolve(open.id, s.echo.name), [s.echo.address]);
      assert.deepEqual(await s.driver.resolve(open.id, s.other.name), [s.other.address]);
      const none = await attach([]);
      assert.deepEqual(await s.driver.resolve(none.id, s.echo.name), []);
    });

    it("setAllowNet forgets the addresses a name admitted", async () => {
      const { id } = await attach([rule(s.echo.name)]);
      await s.driver.resolve(id, s.echo.name);
      await reachesEcho(id);
      await s.driver.setAllowNet(id, [rule(`other.${s.echo.name}`)]);
      await refused(id, [s.echo.address], s.echo.port);
    });

    it("closed ranges win over allowNet: null, IP rules and names; setClosed replaces them", async () => {
      const closed = [...s.driver.closedRanges([]), `${s.echo.address}/${s.echo.address.includes(":") ? 128 : 32}`];
      const { id } = await attach(null, { closed });
      await refused(id, [s.echo.address], s.echo.port);
      await s.driver.setAllowNet(id, [rule(s.echo.address), rule(s.echo.name)]);
      await refused(id, [s.echo.address], s.echo.port);
      assert.deepEqual(await s.driver.resolve(id, s.echo.name), [], "a name pointing into a closed range does not resolve");
      await s.driver.setClosed(id, s.driver.closedRanges([]));
      await reachesEcho(id);
      await s.driver.setClosed(id, closed);
      await refused(id, [s.echo.address], s.echo.port);
    });

    it("closedRanges always holds the driver's own ranges, whatever a tenant opens", async () => {
      const { a } = await attach([]);
      for (const open of [[], ["private"], ["private", "cgnat", "link-local", "loopback"]]) {
        const set = setOfCidrs(s.driver.closedRanges(open));
        assert.ok(containsAddress(set, a.ipv4), `${a.ipv4} closed with ${open.join(",")}`);
        assert.ok(containsAddress(set, a.ipv6), `${a.ipv6} closed with ${open.join(",")}`);
      }
      assert.ok(containsAddress(setOfCidrs(s.driver.closedRanges([])), "169.254.169.254"), "metadata is closed by default");
      assert.ok(containsAddress(setOfCidrs(s.driver.closedRanges([])), "192.168.1.1"), "private is closed by default");
      assert.ok(!containsAddress(setOfCidrs(s.driver.closedRanges(["private"])), "192.168.1.1"), "a tenant may open private");
    });

    it("a second driver adopts a sandbox the first left running: policy, admitted names, CA, closed ranges; the rest is cleaned", async () => {
      const secret: SecretBinding = {
        name: "TOKEN",
        placeholder: "atoll-secret-placeholder-2",
        value: "s3cret",
        hosts: [rule(`api.${s.echo.name}`) as HostRule],
      };
      const kept = await attach([rule(s.echo.name)], { secrets: [secret] });
      const dropped = await attach(null);
      const caBefore = s.driver.sandboxCa(kept.id);
      assert.deepEqual(await s.driver.resolve(kept.id, s.echo.name), [s.echo.address]);
      const stopInside = await s.listenInside(kept.id, kept.a, 3400);
      stops.push(stopInside);
      await s.restart([kept.a.netnsPath, dropped.a.netnsPath]);
      const facts = {
        netnsPath: kept.a.netnsPath,
        ipv4: kept.a.ipv4,
        ipv6: kept.a.ipv6,
        allowNet: [rule(s.echo.name)],
        closed: s.driver.closedRanges([]),
        secrets: [{ name: secret.name, placeholder: secret.placeholder, hosts: secret.hosts }],
      };
      await assert.rejects(s.driver.adopt(kept.id, { ...facts, ipv4: dropped.a.ipv4 }), { code: "NETWORK_FAILED" });
      const a = await s.driver.adopt(kept.id, facts);
      await assert.rejects(s.driver.adopt(kept.id, facts), { code: "NETWORK_FAILED" }, "adopted once only");
      await s.driver.dropUnadopted();
      assert.deepEqual([a.netnsPath, a.ipv4, a.ipv6], [kept.a.netnsPath, kept.a.ipv4, kept.a.ipv6]);
      assert.equal(s.driver.sandboxCa(kept.id), caBefore, "the sandbox keeps trusting the same CA");
      await reachesEcho(kept.id); // admitted by the first driver's resolver, still admitted
      assert.deepEqual(await s.driver.resolve(kept.id, s.other.name), []);
      assert.deepEqual(await s.driver.resolve(kept.id, s.echo.name), [s.echo.address]);
      assert.equal(await echoed(await s.driver.connect(kept.id, ["127.0.0.1"], 3400), "inside"), "inside");
      await assert.rejects(s.driver.connect(dropped.id, [s.echo.address], s.echo.port), { code: "NETWORK_FAILED" });
      await assert.rejects(s.driver.adopt(dropped.id, { ...facts, netnsPath: dropped.a.netnsPath, ipv4: dropped.a.ipv4, ipv6: dropped.a.ipv6 }), {
        code: "NETWORK_FAILED",
      });
      attached.delete(dropped.id);
      const fresh = await attach([]);
      assert.notEqual(fresh.a.ipv4, kept.a.ipv4, "a new sandbox does not get an adopted one's address");
      await s.driver.setClosed(kept.id, [...s.driver.closedRanges([]), `${s.echo.address}/${s.echo.address.includes(":") ? 128 : 32}`]);
      await refused(kept.id, [s.echo.address], s.echo.port);
      await s.driver.setAllowNet(kept.id, [rule(s.other.address)]);
      await s.driver.release(kept.id);
      await s.driver.release(kept.id);
      attached.delete(kept.id);
      await assert.rejects(s.driver.connect(kept.id, ["127.0.0.1"], 3400), { code: "NETWORK_FAILED" });
    });

    it("release is idempotent, ends the network and frees the id; every call on an unknown id is NETWORK_FAILED", async () => {
      const { id, a } = await attach([rule(s.echo.address)]);
      const stop = await s.listenInside(id, a, 3300);
      await s.driver.release(id);
      await s.driver.release(id);
      await stop();
      attached.delete(id);
      assert.equal(s.driver.sandboxCa(id), undefined);
      await assert.rejects(s.driver.connect(id, ["127.0.0.1"], 3300), { code: "NETWORK_FAILED" });
      await assert.rejects(s.driver.setAllowNet(id, null), { code: "NETWORK_FAILED" });
      await assert.rejects(s.driver.setClosed(id, []), { code: "NETWORK_FAILED" });
      await assert.rejects(s.driver.resolve(id, s.echo.name), { code: "NETWORK_FAILED" });
      await s.driver.release(newId());
      const again = await s.driver.attach(id, { allowNet: [rule(s.echo.address)], secrets: [], closed: s.driver.closedRanges([]) });
      attached.add(id);
      assert.ok(again.ipv4.length > 0);
      await reachesEcho(id);
    });
  });
}
