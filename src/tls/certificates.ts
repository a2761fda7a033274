// Making X.509 certificates: a CA and the leaves it signs. Keys and signatures are node's crypto
// (ECDSA P-256, SHA-256); the ASN.1 structures are @peculiar/asn1-x509's (see
// docs/dependencies.md). Nothing here does TLS: node's `tls` does.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
} from "@peculiar/asn1-x509";

/** ecdsa-with-SHA256 */
const ECDSA_SHA256 = "1.2.840.10045.4.3.2";
/** id-at-commonName */
const COMMON_NAME = "2.5.4.3";
/** id-at-organizationName */
const ORGANIZATION = "2.5.4.10";

/** A certificate and its private key, both PEM. */
export interface KeyedCertificate {
  cert: string;
  key: string;
}

export interface IssueOptions {
  /** DNS names and IP addresses the certificate is for (the first is its common name) */
  names: readonly string[];
  notBefore: Date;
  notAfter: Date;
  /** for a client (mTLS) rather than a server; default server */
  usage?: "server" | "client";
  /** the subject's key (PEM); a new one is made when absent */
  key?: string;
}

/** A new ECDSA P-256 private key, PKCS#8 PEM. */
export function newKey(): string {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** A self-signed CA certificate (CA:true, keyCertSign) valid from notBefore to notAfter. */
export function createCa(commonName: string, notBefore: Date, notAfter: Date, keyPem = newKey()): KeyedCertificate {
  const key = createPrivateKey(keyPem);
  const subject = nameOf(commonName, "netimpair");
  const spki = publicKeyInfo(key);
  const extensions = [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
    extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature)),
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId(spki))),
  ];
  const cert = signCertificate({ subject, issuer: subject, spki, notBefore, notAfter, extensions }, key);
  return { cert, key: keyPem };
}

/** A leaf certificate for `names`, signed by `ca`. */
export function issue(ca: KeyedCertificate, options: IssueOptions): KeyedCertificate {
  if (options.names.length === 0) throw new Error("a certificate needs at least one name");
  const caKey = createPrivateKey(ca.key);
  const caCert = new X509Certificate(ca.cert);
  const issuer = AsnConvert.parse(caCert.raw, Certificate).tbsCertificate.subject;
  const keyPem = options.key ?? newKey();
  const spki = publicKeyInfo(createPrivateKey(keyPem));
  const altNames = new SubjectAlternativeName(
    options.names.map((n) => (isIP(n) !== 0 ? new GeneralName({ iPAddress: n }) : new GeneralName({ dNSName: n }))),
  );
  const client = options.usage === "client";
  const extensions = [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
    extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyAgreement)),
    extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([client ? id_kp_clientAuth : id_kp_serverAuth])),
    extension(id_ce_subjectAltName, false, altNames),
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId(spki))),
    extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyId(publicKeyInfo(caKey))) })),
  ];
  const cert = signCertificate({ subject: nameOf(options.names[0]!), issuer, spki, notBefore: options.notBefore, notAfter: options.notAfter, extensions }, caKey);
  return { cert, key: keyPem };
}

interface Unsigned {
  subject: Name;
  issuer: Name;
  spki: SubjectPublicKeyInfo;
  notBefore: Date;
  notAfter: Date;
  extensions: Extension[];
}

function signCertificate(u: Unsigned, signer: KeyObject): string {
  const serial = serialNumber(randomBytes(16));
  const algorithm = new AlgorithmIdentifier({ algorithm: ECDSA_SHA256 });
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(serial),
    signature: algorithm,
    issuer: u.issuer,
    validity: new Validity({ notBefore: u.notBefore, notAfter: u.notAfter }),
    subject: u.subject,
    subjectPublicKeyInfo: u.spki,
    extensions: new Extensions(u.extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  // node's ECDSA signature is DER (r, s): what X.509's signatureValue holds
  const signature = sign("sha256", tbsDer, signer);
  const der = Buffer.from(AsnConvert.serialize(new Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: toArrayBuffer(signature) })));
  return toPem(der, "CERTIFICATE");
}

/**
 * A certificate's serial from random bytes, as DER wants it: a positive INTEGER in its shortest
 * form. The top byte is kept in 0x40-0x7f: a 0 there (1 time in 128 with only the sign bit
 * cleared) made the encoding padded, and OpenSSL refused such a leaf (illegal padding).
 */
export function serialNumber(random: Buffer): Buffer {
  const serial = Buffer.from(random);
  serial[0] = (serial[0]! & 0x3f) | 0x40;
  return serial;
}

function nameOf(commonName: string, organization?: string): Name {
  const rdns = [new RelativeDistinguishedName([new AttributeTypeAndValue({ type: COMMON_NAME, value: new AttributeValue({ utf8String: commonName }) })])];
  if (organization !== undefined)
    rdns.push(new RelativeDistinguishedName([new AttributeTypeAndValue({ type: ORGANIZATION, value: new AttributeValue({ utf8String: organization }) })]));
  return new Name(rdns);
}

function extension(id: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID: id, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function publicKeyInfo(key: KeyObject): SubjectPublicKeyInfo {
  const der = createPublicKey(key).export({ type: "spki", format: "der" });
  return AsnConvert.parse(der, SubjectPublicKeyInfo);
}

/** RFC 5280's method 1: SHA-1 of the subject public key's bits. */
function keyId(spki: SubjectPublicKeyInfo): ArrayBuffer {
  return toArrayBuffer(createHash("sha1").update(Buffer.from(spki.subjectPublicKey)).digest());
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function toPem(der: Buffer, label: string): string {
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
