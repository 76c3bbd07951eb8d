// The pure CRL encoder (lib/x509/crl-der.ts) against the reference: the asn1-schema object tree
// createCrl serialised before it, rebuilt here field for field and compared byte for byte (edge
// cases, then 200 seeded random CRLs); against createCrl itself; and against openssl's parser.
import { execFileSync } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as X from "../lib/x509/mod.ts";
import { AsnConvert, OctetString, asn1x509, x509 } from "../lib/x509/vendor.ts";
import { rng } from "./sim.ts";
import { certificateListDer, tbsCertListDer, type CrlDerEntry, type CrlDerFields } from "../lib/x509/crl-der.ts";
import { fromHex, toHex } from "../lib/bytes.ts";

// ---- the reference: createCrl's asn1-schema construction, verbatim -----------------------------

const ECDSA_SHA256 = "1.2.840.10045.4.3.2";
const ID_CE_CRL_NUMBER = "2.5.29.20";

function derInteger(n: number): Uint8Array {
  const bytes: number[] = [];
  let v = BigInt(n);
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return new Uint8Array([0x02, bytes.length, ...bytes]);
}
function derUnsigned(bytes: Uint8Array): number[] {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const body = [...bytes.subarray(i)];
  if (body[0]! & 0x80) body.unshift(0);
  return [0x02, body.length, ...body];
}
function ecdsaSigValue(sig: Uint8Array): Uint8Array {
  const body = [...derUnsigned(sig.subarray(0, 32)), ...derUnsigned(sig.subarray(32))];
  return new Uint8Array([0x30, body.length, ...body]);
}

function refTbs(f: CrlDerFields): asn1x509.TBSCertList {
  const entries = f.entries.map(({ serial, date, reasonCode: code }) => new asn1x509.RevokedCertificate({
    userCertificate: new Uint8Array(derUnsigned(serial).slice(2)).buffer,
    revocationDate: new asn1x509.Time(new Date(Math.floor(date.getTime() / 1000) * 1000)),
    ...(code === 0 ? {} : {
      crlEntryExtensions: [new asn1x509.Extension({
        extnID: asn1x509.id_ce_cRLReasons, critical: false, extnValue: new OctetString(AsnConvert.serialize(new asn1x509.CRLReason(code))),
      })],
    }),
  }));
  return new asn1x509.TBSCertList({
    version: asn1x509.Version.v2,
    signature: new asn1x509.AlgorithmIdentifier({ algorithm: ECDSA_SHA256 }),
    issuer: AsnConvert.parse(f.issuerName, asn1x509.Name),
    thisUpdate: new asn1x509.Time(f.thisUpdate),
    nextUpdate: new asn1x509.Time(f.nextUpdate),
    ...(entries.length ? { revokedCertificates: entries } : {}),
    crlExtensions: new asn1x509.Extensions([
      AsnConvert.parse(f.akiDer, asn1x509.Extension),
      new asn1x509.Extension({ extnID: ID_CE_CRL_NUMBER, critical: false, extnValue: new OctetString(derInteger(f.crlNumber)) }),
    ]),
  });
}
const refTbsDer = (f: CrlDerFields) => toHex(new Uint8Array(AsnConvert.serialize(refTbs(f))));
const refCrlDer = (f: CrlDerFields, sig: Uint8Array) => toHex(new Uint8Array(AsnConvert.serialize(new asn1x509.CertificateList({
  tbsCertList: refTbs(f), signatureAlgorithm: new asn1x509.AlgorithmIdentifier({ algorithm: ECDSA_SHA256 }), signature: ecdsaSigValue(sig).buffer as ArrayBuffer,
}))));

// ---- fixtures --------------------------------------------------------------------------------

// An issuer Name and AKI extension as createCrl gets them: from a root made by the repo itself.
const rootKey = await X.generateKeyPair();
const root = await X.createRoot({ key: rootKey, commonName: "inforge crl-der root", notBefore: new Date("2020-01-01T00:00:00Z"), notAfter: new Date("2070-01-01T00:00:00Z") });
const rootCert = new x509.X509Certificate(root.pem);
const ISSUER = new Uint8Array(AsnConvert.serialize(AsnConvert.parse(rootCert.rawData, asn1x509.Certificate).tbsCertificate.subject));
const AKI = new Uint8Array(new x509.AuthorityKeyIdentifierExtension(rootCert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId).rawData);
// Fixed bytes, independent of the library: CN=inforge root G1, and an AKI with an 11-byte key id.
const FIXED_ISSUER = fromHex("301a3118301606035504030c0f696e666f72676520726f6f74204731");
const FIXED_AKI = fromHex("30160603551d2304" + "0f300d800b" + "0102030405060708090a0b");

const T = new Date("2030-05-06T07:08:09Z");
const base: CrlDerFields = { issuerName: ISSUER, thisUpdate: T, nextUpdate: new Date("2030-05-13T07:08:09Z"), entries: [], akiDer: AKI, crlNumber: 1 };
const entry = (serialHex: string, reasonCode = 0, date = T): CrlDerEntry => ({ serial: fromHex(serialHex), date, reasonCode });

function same(f: CrlDerFields, what: string): void {
  assert.is(toHex(tbsCertListDer(f)), refTbsDer(f), what);
}

// ---- edge cases ------------------------------------------------------------------------------

test("the fixtures are what they claim: a real Name and AKI extension, and fixed ones the reference reads back unchanged", () => {
  assert.is(ISSUER[0], 0x30);
  assert.is(toHex(AKI).slice(0, 14), "301f0603551d23", "a non-critical AKI (its 20-byte key id)");
  for (const [name, aki] of [[ISSUER, AKI], [FIXED_ISSUER, FIXED_AKI]] as const) {
    assert.is(toHex(new Uint8Array(AsnConvert.serialize(AsnConvert.parse(name, asn1x509.Name)))), toHex(name), "Name round-trips");
    assert.is(toHex(new Uint8Array(AsnConvert.serialize(AsnConvert.parse(aki, asn1x509.Extension)))), toHex(aki), "AKI round-trips");
  }
});

test("no entries: revokedCertificates is absent, byte for byte the reference", () => {
  same(base, "real issuer");
  same({ ...base, issuerName: FIXED_ISSUER, akiDer: FIXED_AKI }, "fixed issuer");
  const der = tbsCertListDer(base);
  // After nextUpdate comes the [0] extensions directly.
  const next = toHex(der).indexOf("170d3330303531333037303830395a");
  assert.is(toHex(der).slice(next + 30, next + 32), "a0");
});

test("one entry without a reason: no crlEntryExtensions at all", () => {
  const f = { ...base, entries: [entry("01")] };
  same(f, "reason 0");
  assert.ok(toHex(tbsCertListDer(f)).includes("3012020101170d3330303530363037303830395a"), "SEQUENCE { INTEGER 1, UTCTime } and nothing else");
});

test("each reason code createCrl writes (1, 3, 4, 5, 9), alone and mixed with reason 0", () => {
  for (const code of [1, 3, 4, 5, 9]) {
    const f = { ...base, entries: [entry("0a", code)] };
    same(f, `reason ${code}`);
    // Non-critical: the DEFAULT FALSE BOOLEAN is omitted, as DER requires (X.690 §11.5).
    assert.ok(toHex(tbsCertListDer(f)).includes(`300c300a0603551d1504030a010${code}`), `reason ${code} extension`);
  }
  same({ ...base, entries: [0, 1, 0, 3, 4, 5, 9, 0].map((c, i) => entry((i + 1).toString(16).padStart(2, "0"), c)) }, "mixed");
});

test("serials: high bit set, leading zero bytes, 1, 16 and 20 bytes", () => {
  const serials = ["80", "ff", "00", "0000", "000001", "00ff", "00000080", "01", "7f", "7fffffffffffffffffffffffffffffff", "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "0123456789abcdef0123456789abcdef01234567", "f123456789abcdef0123456789abcdef01234567", "00000000000000000000000000000000000000ff"];
  same({ ...base, entries: serials.map((s, i) => entry(s, [0, 1, 9][i % 3]!)) }, "all serials");
  for (const s of serials) same({ ...base, entries: [entry(s)] }, s);
  assert.ok(toHex(tbsCertListDer({ ...base, entries: [entry("000080")] })).includes("0202" + "0080"), "leading zeros cut, one zero back for the sign");
});

test("UTCTime through 2049, GeneralizedTime from 2050, for thisUpdate, nextUpdate and revocation dates", () => {
  const dates = ["1950-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2000-01-01T00:00:00Z", "2049-12-31T23:59:59Z", "2050-01-01T00:00:00Z", "2099-02-28T12:34:56Z", "2999-12-31T23:59:59Z"].map((d) => new Date(d));
  for (const d of dates) {
    same({ ...base, thisUpdate: d, nextUpdate: d, entries: [entry("05", 1, d), entry("06", 0, d)] }, d.toISOString());
  }
  const der = toHex(tbsCertListDer({ ...base, thisUpdate: dates[3]!, nextUpdate: dates[4]!, entries: [] }));
  assert.ok(der.includes("170d" + Buffer.from("491231235959Z").toString("hex")), "2049: UTCTime");
  assert.ok(der.includes("180f" + Buffer.from("20500101000000Z").toString("hex")), "2050: GeneralizedTime");
});

test("revocation dates (and update times) drop their milliseconds, as the reference does", () => {
  const ms = (iso: string) => new Date(iso);
  same({ ...base, thisUpdate: ms("2030-01-01T00:00:00.999Z"), nextUpdate: ms("2050-01-01T00:00:00.500Z"), entries: [entry("01", 1, ms("2049-12-31T23:59:59.999Z")), entry("02", 0, ms("2051-06-01T00:00:00.001Z"))] }, "milliseconds");
  same({ ...base, entries: [entry("01", 0, ms("1969-12-31T23:59:58.500Z"))] }, "before the epoch");
});

test("a date before 1950 or after 9999, or not a date, is refused (the reference writes a UTCTime a century off)", () => {
  for (const d of [new Date("1949-12-31T23:59:59Z"), new Date("+010000-01-01T00:00:00Z"), new Date(NaN)]) {
    assert.throws(() => tbsCertListDer({ ...base, thisUpdate: d }), /not a date between 1950 and 9999/);
    assert.throws(() => tbsCertListDer({ ...base, entries: [entry("01", 0, d)] }), /entry 0 revocation date/);
  }
});

test("crlNumber 0, 127, 128, 255, 256, 2^32, Number.MAX_SAFE_INTEGER", () => {
  for (const n of [0, 1, 127, 128, 255, 256, 32767, 32768, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER]) same({ ...base, crlNumber: n }, `crlNumber ${n}`);
  assert.ok(toHex(tbsCertListDer({ ...base, crlNumber: 128 })).endsWith("300b0603551d1404040202" + "0080"), "128 gets its sign byte");
  for (const n of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, NaN]) assert.throws(() => tbsCertListDer({ ...base, crlNumber: n }), /not a non-negative safe integer/);
});

test("600 entries: multi-byte DER lengths, byte for byte the reference", () => {
  const entries = Array.from({ length: 600 }, (_, i) => entry(i.toString(16).padStart(32, "0").replace(/^0/, "8"), [0, 1, 3, 4, 5, 9][i % 6]!, new Date(T.getTime() - i * 1000)));
  const f = { ...base, entries };
  same(f, "600 entries");
  const der = tbsCertListDer(f);
  assert.is(toHex(der.subarray(0, 2)), "3082", `${der.length} bytes: a two-byte length`);
  const sig = fromHex("ff".repeat(64));
  assert.is(toHex(certificateListDer(der, sig)), refCrlDer(f, sig), "the whole CertificateList");
  // Around the one-byte long form (128–255 bytes of content) too.
  for (const n of [2, 3, 4, 5, 8]) same({ ...base, entries: entries.slice(0, n) }, `${n} entries`);
});

test("1500 entries with 20-byte serials: past 64 KiB, a three-byte DER length", () => {
  const f = { ...base, entries: Array.from({ length: 1500 }, (_, i) => entry("f" + i.toString(16).padStart(39, "0"), i % 2 ? 1 : 0, new Date(T.getTime() + i * 60_000))) };
  const der = tbsCertListDer(f);
  assert.ok(der.length > 0x10000, `${der.length} bytes`);
  assert.is(toHex(der.subarray(0, 2)), "3083");
  assert.is(toHex(der), refTbsDer(f));
});

test("certificateListDer is the reference CertificateList for signatures with high bits and leading zeros", () => {
  const sigs = [
    "01".repeat(64),
    "80".repeat(64),
    "00".repeat(31) + "01" + "00".repeat(31) + "02",
    "0000ff" + "11".repeat(29) + "7f" + "22".repeat(31),
    "00" + "ff".repeat(31) + "00".repeat(2) + "80".repeat(30),
    "ff".repeat(32) + "00".repeat(32),
  ].map(fromHex);
  for (const f of [base, { ...base, entries: [entry("0102", 1), entry("ff", 0)] }]) {
    for (const sig of sigs) assert.is(toHex(certificateListDer(tbsCertListDer(f), sig)), refCrlDer(f, sig), toHex(sig));
  }
  assert.throws(() => certificateListDer(tbsCertListDer(base), new Uint8Array(63)), /63 bytes/);
});

test("createCrl's CRL is tbsCertListDer and certificateListDer of the same fields", async () => {
  const revoked: X.CrlEntry[] = [{ serial: "0123456789abcdef0123456789abcdef", date: new Date("2030-01-02T03:04:05.678Z"), reason: "key-compromise" },
    { serial: "ff01", date: new Date("2055-01-01T00:00:00Z") }, { serial: "0a", date: T, reason: "unspecified" }, { serial: "0b", date: T, reason: "privilege-withdrawn" }];
  const pem = await X.createCrl({ issuer: { certPem: root.pem, signer: X.keySigner(rootKey) }, thisUpdate: T, nextUpdate: new Date("2051-01-01T00:00:00Z"), crlNumber: 4242, revoked });
  const der = new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64"));
  const crl = AsnConvert.parse(der, asn1x509.CertificateList);
  // P1363 r||s back out of the ECDSA-Sig-Value: 30 L 02 lr r 02 ls s (short lengths, at most 72 bytes).
  const sv = new Uint8Array(crl.signature);
  const half = (at: number) => {
    const b = sv.subarray(at + 2, at + 2 + sv[at + 1]!).filter((_, i, a) => !(i === 0 && a.length === 33));
    return [...new Uint8Array(32 - b.length), ...b];
  };
  const sig = new Uint8Array([...half(2), ...half(4 + sv[3]!)]);
  const codes: Record<string, number> = { "key-compromise": 1, "unspecified": 0, "privilege-withdrawn": 9 };
  const tbs = tbsCertListDer({
    issuerName: ISSUER, thisUpdate: T, nextUpdate: new Date("2051-01-01T00:00:00Z"), akiDer: AKI, crlNumber: 4242,
    entries: revoked.map((r) => ({ serial: fromHex(r.serial), date: r.date, reasonCode: r.reason === undefined ? 0 : codes[r.reason]! })),
  });
  assert.is(toHex(certificateListDer(tbs, sig)), toHex(der));
});

test("openssl parses a CertificateList built here: issuer, dates, CRL number, AKI, serials and reasons", () => {
  const f: CrlDerFields = {
    issuerName: FIXED_ISSUER, akiDer: FIXED_AKI, thisUpdate: T, nextUpdate: new Date("2050-03-04T05:06:07Z"), crlNumber: 2 ** 32,
    entries: [entry("00ff01", 1), entry("1234", 0, new Date("2052-01-01T00:00:00Z")), entry("05", 9), entry("06", 4)],
  };
  const der = certificateListDer(tbsCertListDer(f), fromHex("80" + "11".repeat(63)));
  const out = execFileSync("openssl", ["crl", "-inform", "DER", "-noout", "-text"], { input: der, encoding: "utf8" });
  for (const want of [
    "Version 2 (0x1)", "Signature Algorithm: ecdsa-with-SHA256", "Issuer: CN = inforge root G1", "Last Update: May  6 07:08:09 2030 GMT",
    "Next Update: Mar  4 05:06:07 2050 GMT", "X509v3 CRL Number:\n                4294967296", "01:02:03:04:05:06:07:08:09:0A:0B",
    "Serial Number: FF01", "Key Compromise", "Serial Number: 1234", "Jan  1 00:00:00 2052 GMT", "Privilege Withdrawn", "Superseded",
  ]) assert.ok(out.replace(/ +\n/g, "\n").includes(want), `${want}\n---\n${out}`);
  assert.not.ok(/Unspecified/.test(out), "reason 0 writes no reasonCode");
});

// ---- property: random CRLs -------------------------------------------------------------------

test("200 seeded random CRLs are byte for byte the reference", () => {
  const seed = Date.now() >>> 0;
  const rand = rng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const from = Date.UTC(1990, 0, 1);
  const span = Date.UTC(2070, 0, 1) - from;
  const date = () => new Date(from + Math.floor(rand() * span));
  for (let k = 0; k < 200; k++) {
    const entries = Array.from({ length: int(21) }, () => ({
      serial: Uint8Array.from({ length: 1 + int(20) }, () => (rand() < 0.2 ? 0 : int(256))),
      date: date(),
      reasonCode: [0, 1, 3, 4, 5, 9][int(6)]!,
    }));
    const thisUpdate = new Date(Math.floor(date().getTime() / 1000) * 1000);
    const f: CrlDerFields = {
      issuerName: k % 2 ? ISSUER : FIXED_ISSUER, akiDer: k % 2 ? AKI : FIXED_AKI, thisUpdate, nextUpdate: new Date(thisUpdate.getTime() + int(400) * 86_400_000),
      crlNumber: [int(256), int(2 ** 31), Math.floor(rand() * Number.MAX_SAFE_INTEGER)][int(3)]!, entries,
    };
    same(f, `seed ${seed}, case ${k}`);
    if (k % 20 === 0) {
      const sig = Uint8Array.from({ length: 64 }, () => (rand() < 0.1 ? 0 : int(256)));
      assert.is(toHex(certificateListDer(tbsCertListDer(f), sig)), refCrlDer(f, sig), `seed ${seed}, case ${k}: CertificateList`);
    }
  }
});

test.run();
