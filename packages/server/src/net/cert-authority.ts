/**
 * Per-sandbox certificate authorities for the TLS-intercepting proxy (secrets): the daemon makes
 * one CA per sandbox with secrets (ECDSA P-256, valid for 30 days, path length 0); netd mints a
 * leaf certificate per intercepted host name from it. The CA's key never enters the sandbox;
 * its certificate is added to the sandbox's trust store.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;

export interface CertificateAuthority {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END ${label}-----\n`;
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // positive
  return Buffer.from(bytes).toString("hex");
}

/**
 * A fresh CA for one sandbox.
 *
 * @example const ca = await createSandboxCa("sbx_abc"); // ca.certPem goes into the sandbox
 */
export async function createSandboxCa(sandboxId: string, now = new Date()): Promise<CertificateAuthority> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Atoll sandbox ${sandboxId} egress CA, O=Atoll`,
    notBefore: new Date(now.getTime() - 3_600_000),
    notAfter: new Date(now.getTime() + 30 * DAY),
    keys: keys as CryptoKeyPair,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as CryptoKey),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey as CryptoKey);
  return { certPem: cert.toString("pem"), keyPem: pem("PRIVATE KEY", pkcs8) };
}

/** Mints leaf certificates for host names from one CA; one key pair serves all of them. */
export class LeafMinter {
  private leafKeys: Promise<CryptoKeyPair> | undefined;
  private caKey: Promise<CryptoKey> | undefined;
  /** Parsed on first use: netd makes a minter per sandbox (a hundred at once when a daemon adopts them), most never mint. */
  private caCert: x509.X509Certificate | undefined;

  constructor(private readonly ca: CertificateAuthority) {}

  /** { certPem, keyPem } for `name` (a DNS name or an IP literal), valid 7 days. */
  async mint(name: string, now = new Date()): Promise<{ certPem: string; keyPem: string }> {
    this.leafKeys ??= webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
    this.caKey ??= webcrypto.subtle.importKey("pkcs8", Buffer.from(this.ca.keyPem.replace(/-----[^-]+-----|\s/g, ""), "base64"), ALG, false, ["sign"]);
    const [keys, caKey] = await Promise.all([this.leafKeys, this.caKey]);
    this.caCert ??= new x509.X509Certificate(this.ca.certPem);
    const caCert = this.caCert;
    const isIp = /^[\d.]+$/.test(name) || name.includes(":");
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${isIp ? "ip" : name}`,
      issuer: caCert.subject,
      notBefore: new Date(now.getTime() - 3_600_000),
      notAfter: new Date(now.getTime() + 7 * DAY),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension([{ type: isIp ? "ip" : "dns", value: name }], false),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
      ],
    });
    const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
    return { certPem: cert.toString("pem"), keyPem: pem("PRIVATE KEY", pkcs8) };
  }
}
