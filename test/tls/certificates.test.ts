// The certificates the agent makes must parse in every TLS library its clients use: OpenSSL (node,
// libpq, redis-cli, curl) refuses a DER INTEGER with a needless leading zero byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, randomBytes } from "node:crypto";
import { createCa, issue, serialNumber } from "../../src/tls/certificates.js";

test("a serial is a positive INTEGER in its shortest form whatever the random bytes", () => {
  for (const first of [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xff]) {
    const random = randomBytes(16);
    random[0] = first;
    const serial = serialNumber(random);
    assert.equal(serial.length, 16);
    assert.ok(serial[0]! >= 0x40 && serial[0]! <= 0x7f, `top byte ${serial[0]} from ${first}`);
    assert.deepEqual(serial.subarray(1), random.subarray(1));
  }
});

test("four hundred leaves and CAs all parse (OpenSSL refused about 1 in 256 before)", () => {
  const notBefore = new Date(Date.now() - 3600_000);
  const notAfter = new Date(Date.now() + 86_400_000);
  const ca = createCa("netimpair test CA", notBefore, notAfter);
  const refused: string[] = [];
  for (let i = 0; i < 400; i++) {
    const leaf = i % 10 === 0 ? createCa(`ca ${i}`, notBefore, notAfter) : issue(ca, { names: ["localhost", "127.0.0.1"], notBefore, notAfter });
    try {
      const parsed = new X509Certificate(leaf.cert);
      assert.ok(parsed.serialNumber.length > 0);
    } catch (err) {
      refused.push((err as Error).message);
    }
  }
  assert.deepEqual(refused, []);
});
