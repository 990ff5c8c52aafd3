/** What a sandbox needs from its network before it starts (NetworkAttachment): the namespace, resolv.conf, its CA. */
import type { NetworkAttachment, RootFile } from "../core/drivers.js";
import type { AddressPlan } from "./address-plan.js";
import type { CertificateAuthority } from "./cert-authority.js";
import { netnsPath } from "./netns-ops.js";

/** Where sandboxes find the CA that signs the proxy's certificates for intercepted hosts. */
export const SANDBOX_CA_PATH = "/etc/ssl/certs/atoll-sandbox-ca.pem";
const SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * The attachment of a sandbox network: resolv.conf pointing at the gateway, and with secrets the
 * sandbox CA in the trust stores and the variables that name them.
 *
 * @example sandboxAttachment(plan, { netns: "atoll-0a1b2c3d-beef-1", ipv4, ipv6, ca: undefined })
 */
export function sandboxAttachment(
  plan: Pick<AddressPlan, "gateway4">,
  sbx: { netns: string; ipv4: string; ipv6: string; ca: CertificateAuthority | undefined },
): NetworkAttachment {
  const files: RootFile[] = [{ path: "/etc/resolv.conf", content: `nameserver ${plan.gateway4}\noptions edns0\n` }];
  const env: Record<string, string> = {};
  if (sbx.ca) {
    files.push({ path: SANDBOX_CA_PATH, content: sbx.ca.certPem }, { path: SYSTEM_BUNDLE, content: sbx.ca.certPem, appendToImage: true });
    Object.assign(env, {
      SSL_CERT_FILE: SYSTEM_BUNDLE,
      REQUESTS_CA_BUNDLE: SYSTEM_BUNDLE,
      CURL_CA_BUNDLE: SYSTEM_BUNDLE,
      NODE_EXTRA_CA_CERTS: SANDBOX_CA_PATH,
      DENO_CERT: SANDBOX_CA_PATH,
    });
  }
  return { netnsPath: netnsPath(sbx.netns), files, env, ipv4: sbx.ipv4, ipv6: sbx.ipv6 };
}
